"""The job retention a service accepts: long enough for every late delivery and for the
calendar's own download window, with a seconds override for tests and soaks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.settings import Settings, SettingsError


def test_thirty_days_by_default_and_seconds_when_a_test_says() -> None:
    assert Settings().job_retention == timedelta(days=30)
    assert Settings(job_expiry_s=5).job_retention == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"JOB_RETENTION_DAYS": "19"}, "JOB_RETENTION_DAYS"),
        ({"JOB_RETENTION_DAYS": "20", "RESULT_TTL_DAYS": "21"}, "RESULT_TTL_DAYS"),
    ],
)
def test_a_retention_shorter_than_late_deliveries_or_downloads_is_refused(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=named):
        Settings.from_env()
