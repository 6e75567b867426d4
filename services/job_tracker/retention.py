"""How long a calendar can be downloaded: until RESULT_TTL_DAYS after it was stored, and only
while its file is still in the blob store.

The age rule matches the bucket's lifecycle rule, which deletes the files; a file found missing
earlier (deleted by hand, or lost) is noted in `lost_results`, so the job's status says so too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, delete, select

from services.job_tracker.jobs import Job, Status
from services.job_tracker.records import row_to_job
from services.job_tracker.tables import jobs, lost_results
from shared.clock import utcnow
from shared.eventstore.direct_reads import DirectRead
from shared.eventstore.expiry import ExpiringRows
from shared.eventstore.store import EventStore
from shared.eventstore.upsert import insert_on_conflict

_LOST_AT = "lost_at"
# a job's row and whether its file was found missing, in one statement
TRACKED_JOBS: Select[Any] = select(jobs, lost_results.c.noticed_at.label(_LOST_AT)).outerjoin(
    lost_results, lost_results.c.task_id == jobs.c.task_id
)
# a tenant's job: another tenant's is not found, as if it did not exist
FIND_TRACKED = DirectRead(TRACKED_JOBS.where(jobs.c.task_id == bindparam("key")))
FORGET_LOST = delete(lost_results).where(lost_results.c.task_id == bindparam("key"))


@dataclass(frozen=True)
class TrackedJob:
    """A job as its routes show it: the folded job, and whether its file was found missing."""

    job: Job
    lost: bool = False

    def too_old(self, now: datetime, ttl: timedelta) -> bool:
        """A SUCCESS whose file the lifecycle rule has deleted by now."""
        finished_at = self.job.finished_at
        return (
            self.job.status is Status.SUCCESS
            and finished_at is not None
            and (now - finished_at >= ttl)
        )

    def expired(self, now: datetime, ttl: timedelta) -> bool:
        """A SUCCESS whose file cannot be had any more."""
        return self.job.status is Status.SUCCESS and (self.lost or self.too_old(now, ttl))


def tracked_job(row: Mapping[Any, Any]) -> TrackedJob:
    fields = dict(row)
    lost = fields.pop(_LOST_AT) is not None
    return TrackedJob(row_to_job(fields), lost)


async def find_tracked(store: EventStore, task_id: UUID) -> TrackedJob | None:
    """The job with this id, whoever's it is (None: none yet). One read: a job that arrives
    between two reads could otherwise be missing from the first and present in the second."""
    found = await FIND_TRACKED.mappings(store, {"key": str(task_id)})
    return tracked_job(found[0]) if found else None


async def note_lost(store: EventStore, task_id: UUID) -> None:
    """Remember that the job's file is gone from the blob store."""
    async with store.transaction() as conn:
        statement = insert_on_conflict(conn, lost_results)
        await conn.execute(statement, {"task_id": str(task_id), "noticed_at": utcnow()})


async def note_found(store: EventStore, task_id: UUID) -> None:
    """Forget a loss: the file is back (restored from an older version of the object, say)."""
    async with store.transaction() as conn:
        await conn.execute(FORGET_LOST, {"key": str(task_id)})


def expiring_job_rows(window: timedelta) -> list[ExpiringRows]:
    """Jobs whose last change is `window` old, and the notes of their lost files: the rows that
    go with the job's events (shared/eventstore/expiry.py `expiring_job_events`, deleted first
    in each pass: a rebuild in between drops such a row a little sooner, never brings one
    back)."""
    return [
        ExpiringRows(jobs, jobs.c.updated_at, window),
        ExpiringRows(lost_results, lost_results.c.noticed_at, window),
    ]
