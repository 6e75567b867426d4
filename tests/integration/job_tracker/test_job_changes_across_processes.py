"""On a SQLite file several processes open (`make run`: the tracker folds in one, todo_api
answers from another), a job's change committed in one process wakes its watchers in the other
at once (file_job_changes.py), and a datagram lost on the way makes every watcher read again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest

from services.job_tracker.file_job_changes import COUNT_MARK, FileJobChanges
from services.job_tracker.projection import find_job
from services.job_tracker.tables import SCHEMA
from shared.app.resources import open_store
from shared.eventstore.store import EventStore
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
# far below any keep-alive of an event stream (15 s): only a datagram can wake a watcher this soon
WAIT_S = 10.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/job_tracker.db")
    store = await open_store(settings, SCHEMA)
    yield store
    await store.engine.dispose()


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    return tmp_path / "job_tracker.db"


async def test_a_change_committed_in_another_process_wakes_the_watcher_here(
    store: EventStore, database_file: Path
) -> None:
    changes = FileJobChanges(database_file)
    task_id = uuid4()
    try:
        with changes.watching(task_id) as wakeup:
            writer = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.job_change_writer",
                str(database_file),
                str(task_id),
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stderr=subprocess.PIPE,
            )
            _, err = await writer.communicate()
            assert writer.returncode == 0, err.decode()

            assert await wakeup.wait(WAIT_S) is True
        async with store.reading() as conn:
            assert await find_job(conn, task_id) is not None
    finally:
        changes.close()


async def test_a_skipped_count_wakes_every_watcher_and_a_steady_one_only_its_job(
    database_file: Path,
) -> None:
    changes = FileJobChanges(database_file)
    named, other = uuid4(), uuid4()
    try:
        with changes.watching(named) as woken, changes.watching(other) as quiet:
            changes.hear([f"{COUNT_MARK}4242:1", str(named)])
            changes.hear([f"{COUNT_MARK}4242:2", str(named)])
            assert await woken.wait(0) is True
            assert await quiet.wait(0) is False

            # the sender's third datagram never came
            changes.hear([f"{COUNT_MARK}4242:4", str(named)])
            assert await woken.wait(0) is True
            assert await quiet.wait(0) is True
    finally:
        changes.close()
