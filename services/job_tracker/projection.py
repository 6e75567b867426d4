"""Record calendar events: the event, the inbox row and the job row in one transaction.

`next_job` is the one fold of a job: `record_job_event` writes it row by row, and `JobFold` applies
it in memory for a rebuild (`ops.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import RowMapping, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from services.job_tracker.jobs import Job, Status, evolve
from services.job_tracker.tables import jobs
from shared.clock import utcnow
from shared.consumer import Delivery, Handle
from shared.envelope import Envelope
from shared.events import AnyEvent
from shared.store import EventStore

logger = logging.getLogger(__name__)
CONSUMER = "job_tracker"
# built once, given their values at execution: compiled once and cached
SELECT_JOB_FOR_UPDATE = select(jobs).where(jobs.c.task_id == bindparam("key")).with_for_update()
UPDATE_JOB = update(jobs).where(jobs.c.task_id == bindparam("key"))


async def record_job_event(envelope: Envelope, store: EventStore) -> bool:
    """Fold one delivered event into its job; False when it was a duplicate."""
    task_id = job_key(envelope.data)
    if task_id is None:
        return False
    async with store.transaction() as conn:
        if not await store.record_processed(conn, CONSUMER, envelope.event_id):
            return False
        await store.insert(conn, [envelope], publish=False)
        await _fold_into_row(conn, task_id, envelope.data)
    return True


def make_handle(store: EventStore) -> Handle:
    async def handle(envelope: Envelope, _delivery: Delivery) -> None:
        await record_job_event(envelope, store)

    return handle


async def _fold_into_row(conn: AsyncConnection, task_id: UUID, event: AnyEvent) -> None:
    """Read the job's row under a lock, fold the event in, write it back: two statements."""
    found = await _find_for_update(conn, task_id)
    if found is None:
        job = next_job(None, task_id, event)
        if await _insert_new(conn, job):
            return
        # another transaction created the row since the read: fold into its row instead
        found = await _find_for_update(conn, task_id)
        assert found is not None, "a jobs row is never deleted"
    await conn.execute(
        UPDATE_JOB, {"key": str(task_id), **job_values(next_job(found, task_id, event))}
    )


async def _find_for_update(conn: AsyncConnection, task_id: UUID) -> Job | None:
    row = (await conn.execute(SELECT_JOB_FOR_UPDATE, {"key": str(task_id)})).mappings().first()
    return None if row is None else row_to_job(row)


async def _insert_new(conn: AsyncConnection, job: Job) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(jobs).on_conflict_do_nothing()
    return (await conn.execute(statement, job_values(job))).rowcount == 1


def job_values(job: Job, updated_at: datetime | None = None) -> dict[str, object]:
    """The jobs row of a job, last updated at `updated_at` (default: now)."""
    updated_at = updated_at or utcnow()
    return {**asdict(job), "task_id": str(job.task_id), "updated_at": updated_at}


def job_key(event: AnyEvent) -> UUID | None:
    """The job an event is about (None: not a calendar event)."""
    task_id: UUID | None = getattr(event, "task_id", None)
    return task_id


def next_job(found: Job | None, task_id: UUID, event: AnyEvent) -> Job:
    """The job after `event`, from its row before (None: no row yet)."""
    return evolve(found or Job(task_id=task_id), event)


@dataclass
class JobFold:
    """The jobs folded in memory, as a rebuild does: `next_job`, as `record_job_event` writes it."""

    jobs: dict[UUID, Job] = field(default_factory=dict)

    def apply(self, envelope: Envelope) -> str | None:
        task_id = job_key(envelope.data)
        if task_id is None:
            return None
        self.jobs[task_id] = next_job(self.jobs.get(task_id), task_id, envelope.data)
        return str(task_id)

    def row(self, key: str) -> dict[str, object] | None:
        found = self.jobs.get(UUID(key))
        return None if found is None else job_values(found, utcnow())

    def row_keys(self) -> Iterable[str]:
        return [str(task_id) for task_id in self.jobs]


def row_to_job(row: RowMapping) -> Job:
    fields = dict(row)
    fields.pop("updated_at", None)
    return Job(**{**fields, "task_id": UUID(fields["task_id"]), "status": Status(fields["status"])})


async def find_job(conn: AsyncConnection, task_id: UUID) -> Job | None:
    query = select(jobs).where(jobs.c.task_id == str(task_id))
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else row_to_job(row)
