"""SQLITE_SYNCHRONOUS: how hard SQLite syncs a commit, for the service stores and the transport.

NORMAL (the default) syncs the WAL at checkpoints only: a killed process loses nothing, a power cut
or OS crash can lose the last commits. FULL syncs at every commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from embedded.transport import transport as transports
from embedded.transport.clients import transport_path
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.stores import make_store

# what `PRAGMA synchronous` answers for each setting
LEVELS = {"NORMAL": 1, "FULL": 2}


def _synchronous(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize("setting", ["NORMAL", "FULL"])
async def test_the_service_store_runs_with_the_setting(tmp_path: Path, setting: str) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db", sqlite_synchronous=setting
    )
    store = await make_store(settings)
    try:
        async with store.reading() as conn:
            level = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
    finally:
        await store.engine.dispose()
    assert level == LEVELS[setting]


@pytest.mark.parametrize("setting", ["NORMAL", "FULL"])
async def test_the_transport_runs_with_the_setting(tmp_path: Path, setting: str) -> None:
    settings = Settings(transport="embedded", var_dir=tmp_path, sqlite_synchronous=setting)
    async with transport_client(settings, "sqs"):
        # the transport the client opened, shared by every user of the file in this process
        transport = transports.acquire(transport_path(settings), settings.aws_region)
        try:
            level = await transport.database.run(_synchronous)
        finally:
            transports.release(transport)
    assert level == LEVELS[setting]


def test_the_default_is_normal_and_the_environment_chooses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().sqlite_synchronous == "NORMAL"
    monkeypatch.setenv("SQLITE_SYNCHRONOUS", "full")
    assert Settings.from_env().sqlite_synchronous == "FULL"
    monkeypatch.setenv("SQLITE_SYNCHRONOUS", "OFF")
    with pytest.raises(SystemExit, match="SQLITE_SYNCHRONOUS"):
        Settings.from_env()
