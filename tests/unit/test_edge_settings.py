"""The setting that has todo_api read the job tracker's tables (`python -m services.edge`)."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError

POSTGRES_URL = "postgresql+asyncpg://app@db:5432/app"


def test_names_a_schema_on_the_postgresql_server_todo_api_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings.from_env().job_tracker_database_schema is None
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("JOB_TRACKER_DATABASE_SCHEMA", "job_tracker")

    assert Settings.from_env().job_tracker_database_schema == "job_tracker"


@pytest.mark.parametrize(
    ("database_url", "schema"),
    [
        ("sqlite+aiosqlite:///var/todo_api.db", "job_tracker"),
        (POSTGRES_URL, "job-tracker; drop"),
    ],
)
def test_a_schema_on_sqlite_or_not_an_identifier_is_refused(
    monkeypatch: pytest.MonkeyPatch, database_url: str, schema: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JOB_TRACKER_DATABASE_SCHEMA", schema)

    with pytest.raises(SettingsError, match="JOB_TRACKER_DATABASE_SCHEMA"):
        Settings.from_env()
