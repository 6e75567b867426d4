"""A process that folds one job into a tracker's SQLite file, for the cross-process job changes
test: `python -m tests.support.job_change_writer DATABASE_FILE TASK_ID`. It commits the job's row
through the job book with the file's changes adapter, as the tracker's process does in `make
run`, and exits."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from uuid import UUID

from services.job_tracker.file_job_changes import FileJobChanges
from services.job_tracker.jobs import Job
from services.job_tracker.records import Folded, SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.app.resources import open_store
from shared.settings import Settings
from tests.support.factories import revoked_envelope


async def write_job(database_file: Path, task_id: UUID) -> None:
    store = await open_store(Settings(database_url=f"sqlite+aiosqlite:///{database_file}"), SCHEMA)
    changes = FileJobChanges(database_file)
    try:
        async with SqlJobBook(store, changes).transaction() as records:
            folded = await records.fold_in(
                revoked_envelope(task_id), Job(task_id=task_id), new_row=True
            )
            assert folded is Folded.WRITTEN
    finally:
        changes.close()
        await store.engine.dispose()


if __name__ == "__main__":
    asyncio.run(write_job(Path(sys.argv[1]), UUID(sys.argv[2])))
