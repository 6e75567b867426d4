"""The calendar worker's records port, one contract: the database (SQLite, PostgreSQL) and the
in-memory fake the unit tests of build_calendar use (tests/support/fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from services.calendar_worker.records import RenderBook, SqlRenderBook
from services.calendar_worker.tables import SCHEMA
from shared.contracts.events import CalendarProgress, CalendarRevoked, CalendarStarted
from shared.contracts.streams import render_stream_id
from shared.eventstore.store import ConcurrencyError
from shared.messaging.outbox import SqlOutbox
from shared.settings import Settings
from tests.support.factories import (
    NOW,
    calendar_envelope,
    calendar_ready,
    calendar_requested,
    task_of,
)
from tests.support.fakes import MemoryRenderBook
from tests.support.stores import service_store

LEASE = timedelta(seconds=30)


# what a book's outbox holds, by event type, in order
Queued = Callable[[], Awaitable[list[str]]]


@pytest.fixture
async def subject(backend: Settings | None) -> AsyncIterator[tuple[RenderBook, Queued]]:
    if backend is None:
        memory = MemoryRenderBook()

        async def queued_in_memory() -> list[str]:
            return [envelope.type for envelope in memory.state.queued]

        yield memory, queued_in_memory
        return
    async with service_store(backend, SCHEMA) as store:

        async def queued_in_outbox() -> list[str]:
            return [entry.type for entry in await SqlOutbox(store).pending()]

        yield SqlRenderBook(store), queued_in_outbox


@pytest.fixture
def book(subject: tuple[RenderBook, Queued]) -> RenderBook:
    return subject[0]


@pytest.fixture
def queued(subject: tuple[RenderBook, Queued]) -> Queued:
    return subject[1]


class TestRenderStream:
    async def test_appended_events_are_the_history_in_order_with_their_cause(
        self, book: RenderBook
    ) -> None:
        cause = calendar_envelope(calendar_requested(()))
        task_id = task_of(cause)
        async with book.transaction() as records:
            await records.append(task_id, 0, CalendarStarted(task_id=task_id, attempt=1), cause)
        async with book.transaction() as records:
            await records.append(task_id, 1, calendar_ready(task_id), cause)
            inside = await records.history(task_id)

        history = await book.history(task_id)

        assert [event.type for event in history] == ["CalendarStarted", "CalendarReady"]
        assert [event.stream_version for event in history] == [1, 2]
        assert {event.stream_id for event in history} == {render_stream_id(task_id)}
        assert all(event.causation_id == cause.event_id for event in history)
        assert all(event.correlation_id == cause.correlation_id for event in history)
        assert inside == history

    async def test_a_version_taken_already_conflicts_and_rolls_its_transaction_back(
        self, book: RenderBook
    ) -> None:
        cause = calendar_envelope(calendar_requested(()))
        task_id = task_of(cause)
        async with book.transaction() as records:
            await records.append(task_id, 0, calendar_ready(task_id), cause)

        async def claim_and_append_again() -> None:
            async with book.transaction() as records:
                await records.claim(task_id, "m-2", NOW, LEASE)
                await records.append(task_id, 0, calendar_ready(task_id), cause)

        with pytest.raises(ConcurrencyError):
            await claim_and_append_again()

        assert len(await book.history(task_id)) == 1
        async with book.transaction() as records:
            assert await records.lease_expiry(task_id) is None

    async def test_a_job_never_rendered_has_no_history(self, book: RenderBook) -> None:
        assert await book.history(uuid4()) == []


class TestRevocationsAndReports:
    async def test_a_revocation_takes_the_outcomes_version_and_is_published(
        self, book: RenderBook, queued: Queued
    ) -> None:
        cause = calendar_envelope(calendar_requested(()))
        task_id = task_of(cause)
        revoked = CalendarRevoked(task_id=task_id, revoked_at=NOW)
        async with book.transaction() as records:
            await records.append(task_id, 0, CalendarStarted(task_id=task_id, attempt=1), cause)
            await records.append(task_id, 1, revoked, cause)

        with pytest.raises(ConcurrencyError):
            async with book.transaction() as records:
                await records.append(task_id, 1, calendar_ready(task_id), cause)

        history = await book.history(task_id)
        assert [event.data for event in history][1:] == [revoked]
        assert history[1].stream_version == 2
        assert history[1].causation_id == cause.event_id
        assert await queued() == ["CalendarStarted", "CalendarRevoked"]

    async def test_reports_follow_each_other_apart_from_the_render_stream_and_are_published(
        self, book: RenderBook, queued: Queued
    ) -> None:
        cause = calendar_envelope(calendar_requested(()))
        task_id = task_of(cause)

        for done in (500, 1000):
            async with book.transaction() as records:
                report = CalendarProgress(task_id=task_id, attempt=1, done=done, total=2000)
                await records.append_progress(task_id, report, cause)
        async with book.transaction() as records:
            await records.append(task_id, 0, CalendarStarted(task_id=task_id, attempt=1), cause)

        assert [event.type for event in await book.history(task_id)] == ["CalendarStarted"]
        assert await queued() == ["CalendarProgress", "CalendarProgress", "CalendarStarted"]


class TestRenderLease:
    async def test_one_holder_at_a_time_until_it_runs_out(self, book: RenderBook) -> None:
        task_id = uuid4()
        async with book.transaction() as records:
            first = await records.claim(task_id, "m-1", NOW, LEASE)
            renewed = await records.claim(task_id, "m-1", NOW + LEASE / 2, LEASE)
            other = await records.claim(task_id, "m-2", NOW + LEASE, LEASE)
            expiry = await records.lease_expiry(task_id)
        async with book.transaction() as records:
            later = await records.claim(task_id, "m-2", NOW + LEASE * 2, LEASE)

        assert (first, renewed, other, later) == (True, True, False, True)
        assert expiry == NOW + LEASE / 2 + LEASE

    async def test_only_the_holder_releases_it(self, book: RenderBook) -> None:
        task_id = uuid4()
        async with book.transaction() as records:
            await records.claim(task_id, "m-1", NOW, LEASE)
            await records.release(task_id, "m-2")
            kept = await records.lease_expiry(task_id)
            await records.release(task_id, "m-1")
            taken = await records.claim(task_id, "m-2", NOW, LEASE)

        assert kept is not None
        assert taken is True

    async def test_the_holder_is_told_until_its_lease_runs_out(self, book: RenderBook) -> None:
        task_id = uuid4()
        async with book.transaction() as records:
            nobody = await records.lease_holder(task_id, NOW)
            await records.claim(task_id, "m-1", NOW, LEASE)
            holding = await records.lease_holder(task_id, NOW + LEASE)
            ran_out = await records.lease_holder(task_id, NOW + LEASE * 2)

        assert (nobody, holding, ran_out) == (None, "m-1", None)
