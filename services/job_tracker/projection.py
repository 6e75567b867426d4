"""Record calendar events: the event, the inbox row and the job row in one transaction; and the
API keys' events todo_api publishes: the event, the inbox row and the key's row.

`record_job_event` decides against the records port (records.py), the database or a test's fake.

`next_job` is the one fold of a job: `record_job_event` writes it row by row, and `JobFold` applies
it in memory for a rebuild (`tool_face.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.job_tracker.jobs import Job, Status, evolve, owned
from services.job_tracker.records import Folded, JobBook, JobRecords, job_values, row_to_job
from services.job_tracker.tables import jobs
from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.events import AnyEvent, calendar_task_id

logger = logging.getLogger(__name__)
# told of a job once it has both its outcome and its request time (metrics: the job's duration)
JobFinished = Callable[[Job], None]


async def record_job_event(
    envelope: Envelope, book: JobBook, finished: JobFinished | None = None
) -> bool:
    """Fold one delivered event into its job; False when it was a duplicate."""
    [recorded] = await record_job_events([envelope], book, finished)
    return recorded


async def record_job_events(
    envelopes: Sequence[Envelope], book: JobBook, finished: JobFinished | None = None
) -> list[bool]:
    """Fold delivered events into their jobs in one transaction; for each, False when it was a
    duplicate (or not a calendar event). The jobs are taken in task id order, each job's events
    in the order given: concurrent transactions then lock their rows in one order (no deadlock
    on PostgreSQL), and a job's events fold as they came."""
    recorded = [False] * len(envelopes)
    by_job = sorted(
        ((task_id, n) for n, e in enumerate(envelopes) if (task_id := task_id_of(e.data))),
        key=lambda job_and_n: str(job_and_n[0]),
    )
    if not by_job:
        return recorded
    timed: list[Job] = []
    async with book.transaction() as records:
        for task_id, n in by_job:
            folded = await _fold(records, task_id, envelopes[n])
            if folded is None:
                continue
            before, after = folded
            recorded[n] = True
            if _timed(after) and not _timed(before):
                timed.append(after)
    # after the commit: a rolled-back fold is tried again, and must not count twice
    if finished is not None:
        for job in timed:
            finished(job)
    return recorded


async def _fold(
    records: JobRecords, task_id: UUID, envelope: Envelope
) -> tuple[Job | None, Job] | None:
    """Fold the envelope's event into its job, unless it was handled before (None): the job
    before (None: no row yet) and after. The row is read under its lock first, so the log
    stores a job's events in the order they fold (a new row excepted, which has no lock)."""
    found = await records.locked_job(task_id)
    job = next_job(found, task_id, envelope)
    folded = await records.fold_in(envelope, job, new_row=found is None)
    if folded is Folded.DUPLICATE:
        return None
    if folded is Folded.ROW_TAKEN:
        # another transaction created the row since the read: fold into its row instead
        found = await records.locked_job(task_id)
        # the row just made is far from its retention: only the expiry deletes rows
        assert found is not None, "a jobs row just made is not deleted"
        job = next_job(found, task_id, envelope)
        await records.replace(job)
    return found, job


def _timed(job: Job | None) -> bool:
    if job is None or job.requested_at is None:
        return False
    # a cancelled job has no outcome to time
    return job.finished and job.status is not Status.REVOKED


async def record_key_event(envelope: Envelope, book: JobBook) -> bool:
    """Fold an API key's event into the tracker's keys; False when it was a duplicate. The log
    keeps it, so a rebuild refolds the keys too (tool_face.py)."""
    async with book.transaction() as records:
        if not await records.mark_handled_if_new(envelope.event_id):
            return False
        await records.append_to_log(envelope)
        await records.record_key(envelope)
    return True


def task_id_of(event: AnyEvent) -> UUID | None:
    """The job an event is about (None: not a calendar event)."""
    return calendar_task_id(event)


def next_job(found: Job | None, task_id: UUID, envelope: Envelope) -> Job:
    """The job after the envelope's event, from its row before (None: no row yet)."""
    before = found or Job(task_id=task_id, tenant=envelope.tenant)
    after = owned(evolve(before, envelope.data), envelope.data, envelope.tenant)
    # the event that decided the outcome dates it: a calendar's age counts from when it was
    # stored, as the blob store's lifecycle rule counts it
    if after.finished and not before.finished:
        return replace(after, finished_at=envelope.occurred_at)
    return after


@dataclass
class JobFold:
    """The jobs folded in memory, as a rebuild does: `next_job`, as `record_job_event` writes it."""

    jobs: dict[UUID, Job] = field(default_factory=dict)

    def apply(self, envelope: Envelope) -> str | None:
        task_id = task_id_of(envelope.data)
        if task_id is None:
            return None
        self.jobs[task_id] = next_job(self.jobs.get(task_id), task_id, envelope)
        return str(task_id)

    def row(self, row_id: str) -> dict[str, object] | None:
        found = self.jobs.get(UUID(row_id))
        return None if found is None else job_values(found, utcnow())

    def row_ids(self) -> Iterable[str]:
        return [str(task_id) for task_id in self.jobs]


async def find_job(conn: AsyncConnection, task_id: UUID) -> Job | None:
    query = select(jobs).where(jobs.c.task_id == str(task_id))
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else row_to_job(row)
