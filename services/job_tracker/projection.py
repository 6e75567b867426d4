"""Record calendar events: the event, the inbox row and the job row in one transaction."""

from __future__ import annotations

import dataclasses
import logging
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
    task_id = getattr(envelope.data, "task_id", None)
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
        job = evolve(Job(task_id=task_id), event)
        if await _insert_new(conn, job):
            return
        # another transaction created the row since the read: fold into its row instead
        found = await _find_for_update(conn, task_id)
        assert found is not None, "a jobs row is never deleted"
    await conn.execute(UPDATE_JOB, {"key": str(task_id), **job_values(evolve(found, event))})


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
    return {**dataclasses.asdict(job), "task_id": str(job.task_id), "updated_at": updated_at}


def fold_job_event(jobs_by_id: dict[UUID, Job], envelope: Envelope) -> UUID | None:
    """Fold one event into jobs held in memory, as a rebuild from the event log does.

    Return the task id it touched (None: not a calendar event).
    """
    task_id: UUID | None = getattr(envelope.data, "task_id", None)
    if task_id is None:
        return None
    jobs_by_id[task_id] = evolve(jobs_by_id.get(task_id) or Job(task_id=task_id), envelope.data)
    return task_id


def row_to_job(row: RowMapping) -> Job:
    fields = dict(row)
    fields.pop("updated_at", None)
    return Job(**{**fields, "task_id": UUID(fields["task_id"]), "status": Status(fields["status"])})


async def find_job(conn: AsyncConnection, task_id: UUID) -> Job | None:
    query = select(jobs).where(jobs.c.task_id == str(task_id))
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else row_to_job(row)
