"""The job tracker's records port, one contract: the database (SQLite, PostgreSQL) and the
in-memory fake the unit tests of record_job_event use (tests/support/fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest

from services.job_tracker.jobs import Job, Status
from services.job_tracker.records import Folded, JobBook, SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CalendarStarted
from shared.contracts.streams import render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.settings import Settings
from tests.support.fakes import MemoryJobBook
from tests.support.stores import service_store


@pytest.fixture
async def book(backend: Settings | None) -> AsyncIterator[JobBook]:
    if backend is None:
        yield MemoryJobBook()
        return
    async with service_store(backend, SCHEMA) as store:
        yield SqlJobBook(store)


def started(task_id: UUID, attempt: int = 1) -> Envelope:
    """A job's CalendarStarted, as delivered (the records store what they are given)."""
    event = CalendarStarted(task_id=task_id, attempt=attempt)
    stream_id = render_stream_id(task_id)
    return wrap(event, stream_id=stream_id, stream_version=attempt, origin=ANONYMOUS_ORIGIN)


class TestJobBook:
    async def test_an_event_is_handled_the_first_time_only(self, book: JobBook) -> None:
        event_id = uuid4()
        async with book.transaction() as records:
            first, again = (
                await records.mark_handled_if_new(event_id),
                await records.mark_handled_if_new(event_id),
            )
        async with book.transaction() as records:
            later = await records.mark_handled_if_new(event_id)

        assert (first, again, later) == (True, False, False)

    async def test_a_job_folded_in_is_found_and_replaced(self, book: JobBook) -> None:
        job = Job(task_id=uuid4())
        async with book.transaction() as records:
            missing = await records.locked_job(job.task_id)
            added = await records.fold_in(started(job.task_id), job, new_row=True)
        async with book.transaction() as records:
            # a second event that found no row either, read before the first's commit
            taken = await records.fold_in(started(job.task_id, attempt=2), job, new_row=True)
            await records.replace(Job(task_id=job.task_id, status=Status.STARTED, attempt=1))
        async with book.transaction() as records:
            found = await records.locked_job(job.task_id)

        assert (missing, added, taken) == (None, Folded.WRITTEN, Folded.ROW_TAKEN)
        assert found == Job(task_id=job.task_id, status=Status.STARTED, attempt=1)

    async def test_an_event_folded_in_again_writes_nothing(self, book: JobBook) -> None:
        task_id = uuid4()
        envelope = started(task_id)
        started_job = Job(task_id=task_id, status=Status.STARTED, attempt=1)
        async with book.transaction() as records:
            first = await records.fold_in(envelope, started_job, new_row=True)
        async with book.transaction() as records:
            again = await records.fold_in(envelope, Job(task_id=task_id), new_row=False)
            found = await records.locked_job(task_id)
            handled = not await records.mark_handled_if_new(envelope.event_id)

        assert (first, again, found, handled) == (
            Folded.WRITTEN,
            Folded.DUPLICATE,
            started_job,
            True,
        )

    async def test_a_transaction_that_raises_leaves_nothing(self, book: JobBook) -> None:
        task_id = uuid4()
        envelope = started(task_id)

        async def fail_halfway() -> None:
            async with book.transaction() as records:
                await records.fold_in(envelope, Job(task_id=task_id), new_row=True)
                raise RuntimeError("the fold failed")

        with pytest.raises(RuntimeError):
            await fail_halfway()
        async with book.transaction() as records:
            first = await records.mark_handled_if_new(envelope.event_id)
            found = await records.locked_job(task_id)

        assert (first, found) == (True, None)

    async def test_a_jobs_progress_and_its_cancel_are_kept(self, book: JobBook) -> None:
        rendering = Job(
            task_id=uuid4(),
            status=Status.STARTED,
            attempt=1,
            progress_done=500,
            progress_total=2000,
        )
        async with book.transaction() as records:
            await records.fold_in(started(rendering.task_id), rendering, new_row=True)
        async with book.transaction() as records:
            found = await records.locked_job(rendering.task_id)
            await records.replace(Job(task_id=rendering.task_id, status=Status.REVOKED))
        async with book.transaction() as records:
            revoked = await records.locked_job(rendering.task_id)

        assert found == rendering
        assert revoked == Job(task_id=rendering.task_id, status=Status.REVOKED)

    async def test_a_jobs_tenant_is_kept(self, book: JobBook) -> None:
        theirs = Job(task_id=uuid4(), tenant="acme")
        async with book.transaction() as records:
            await records.fold_in(started(theirs.task_id), theirs, new_row=True)
        async with book.transaction() as records:
            found = await records.locked_job(theirs.task_id)

        assert found == theirs
