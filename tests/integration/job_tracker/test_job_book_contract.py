"""The job tracker's records port, one contract: the database (SQLite, PostgreSQL) and the
in-memory fake the unit tests of record_job_event use (tests/support/fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from services.job_tracker.jobs import Job, Status
from services.job_tracker.records import JobBook, SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.contracts.envelope import wrap
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


def started() -> CalendarStarted:
    return CalendarStarted(task_id=uuid4(), attempt=1)


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

    async def test_a_job_added_is_found_and_replaced(self, book: JobBook) -> None:
        job = Job(task_id=uuid4())
        async with book.transaction() as records:
            missing = await records.locked_job(job.task_id)
            added = await records.add(job)
        async with book.transaction() as records:
            twice = await records.add(job)
            await records.replace(Job(task_id=job.task_id, status=Status.STARTED, attempt=1))
        async with book.transaction() as records:
            found = await records.locked_job(job.task_id)

        assert (missing, added, twice) == (None, True, False)
        assert found == Job(task_id=job.task_id, status=Status.STARTED, attempt=1)

    async def test_a_transaction_that_raises_leaves_nothing(self, book: JobBook) -> None:
        event = started()
        envelope = wrap(
            event,
            stream_id=render_stream_id(event.task_id),
            stream_version=1,
            origin=ANONYMOUS_ORIGIN,
        )

        async def fail_halfway() -> None:
            async with book.transaction() as records:
                await records.mark_handled_if_new(envelope.event_id)
                await records.append_to_log(envelope)
                await records.add(Job(task_id=event.task_id))
                raise RuntimeError("the fold failed")

        with pytest.raises(RuntimeError):
            await fail_halfway()
        async with book.transaction() as records:
            first = await records.mark_handled_if_new(envelope.event_id)
            found = await records.locked_job(event.task_id)

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
            await records.add(rendering)
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
            await records.add(theirs)
        async with book.transaction() as records:
            found = await records.locked_job(theirs.task_id)

        assert found == theirs
