"""build_calendar on the worker's real records (SQLite and PostgreSQL): what the unit tests
(tests/unit/test_build_calendar.py) check on the fake, here with real transactions racing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from services.calendar_worker.handlers import WorkerPorts, build_calendar
from services.calendar_worker.records import RenderRecords, SqlRenderBook
from services.calendar_worker.tables import SCHEMA
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import Envelope
from shared.contracts.events import AnyEvent
from shared.eventstore.store import EventStore
from shared.messaging.consumer import BusyError
from shared.messaging.outbox import SqlOutbox
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.factories import (
    calendar_envelope,
    calendar_requested,
    delivery,
    task_of,
    todo_snapshot,
)
from tests.support.stores import service_store


@pytest.fixture(params=["quick", "leased"])
def ports(request: pytest.FixtureRequest, worker_store: EventStore) -> WorkerPorts:
    """Each test on both paths: a small calendar rendered at once, and under a lease."""
    quick = WorkerPorts(SqlRenderBook(worker_store), InMemoryBlobStore())
    return quick if request.param == "quick" else dataclasses.replace(quick, quick_render_todos=0)


class TestOnTheDatabase:
    async def test_the_outcome_is_recorded_and_queued_to_publish_in_one_commit(
        self, ports: WorkerPorts, worker_store: EventStore
    ) -> None:
        envelope = calendar_envelope(calendar_requested((todo_snapshot(1),)))

        await build_calendar(envelope, delivery(), ports)

        history = await ports.book.history(task_of(envelope))
        assert history[-1].type == "CalendarReady"
        assert await SqlOutbox(worker_store).backlog() == len(history)

    async def test_concurrent_deliveries_of_one_request_record_one_outcome(
        self, ports: WorkerPorts
    ) -> None:
        envelope = calendar_envelope(calendar_requested((todo_snapshot(1),)))

        # five copies of one request, as SNS may deliver it: five SQS messages
        results = await asyncio.gather(
            *(build_calendar(envelope, delivery(message_id=f"m-{n}"), ports) for n in range(5)),
            return_exceptions=True,
        )

        assert all(isinstance(result, (type(None), BusyError)) for result in results), results
        history = await ports.book.history(task_of(envelope))
        assert [event.type for event in history][-1:] == ["CalendarReady"]
        assert sum(event.type == "CalendarReady" for event in history) == 1


@pytest.fixture
async def postgres_worker_store(postgres_schema: str) -> AsyncIterator[EventStore]:
    settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema)
    async with service_store(settings, SCHEMA) as store:
        yield store


class TestARenderFinishingMeanwhile:
    """On PostgreSQL each statement of a transaction sees the moment it runs: another delivery's
    render may finish between two of them. SQLite runs one write transaction at a time."""

    async def test_a_delivery_whose_transaction_spans_another_renders_finish_records_nothing(
        self, postgres_worker_store: EventStore
    ) -> None:
        storing, stored = asyncio.Event(), asyncio.Event()
        first_ports = WorkerPorts(
            SqlRenderBook(postgres_worker_store),
            GatedBlobStore(storing, stored),
            quick_render_todos=0,
        )
        envelope = calendar_envelope(calendar_requested((todo_snapshot(1),)))
        first = asyncio.create_task(
            build_calendar(envelope, delivery(message_id="m-1"), first_ports)
        )
        # m-1 holds the render lease, its start is recorded, its file is being stored
        await storing.wait()

        async def let_the_first_finish() -> None:
            # m-1 records its outcome and gives the lease up while m-2's transaction is open
            stored.set()
            await first

        book = ParkedAfterRead(SqlRenderBook(postgres_worker_store), let_the_first_finish)
        second_ports = dataclasses.replace(first_ports, book=book)
        try:
            await build_calendar(envelope, delivery(message_id="m-2"), second_ports)
        except BusyError:
            # the claim came first and found m-1 rendering: asked again, as SQS would, later
            await let_the_first_finish()
            await build_calendar(envelope, delivery(message_id="m-2"), second_ports)

        history = await first_ports.book.history(task_of(envelope))
        assert [event.type for event in history] == ["CalendarStarted", "CalendarReady"]
        async with first_ports.book.transaction() as records:
            assert await records.lease_expiry(task_of(envelope)) is None


class GatedBlobStore(InMemoryBlobStore):
    """Stores a file only once `stored` is set, saying when it began (`storing`)."""

    def __init__(self, storing: asyncio.Event, stored: asyncio.Event) -> None:
        super().__init__()
        self._storing, self._stored = storing, stored

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self._storing.set()
        await self._stored.wait()
        await super().put(key, data, content_type)


class ParkedAfterRead:
    """The worker's records, parked after each read of a render stream inside a transaction
    until `meanwhile` is done."""

    def __init__(self, book: SqlRenderBook, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self._book, self._meanwhile = book, meanwhile

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[RenderRecords]:
        async with self._book.transaction() as records:
            yield ParkedRecords(records, self._meanwhile)

    async def history(self, task_id: UUID) -> list[Envelope]:
        return await self._book.history(task_id)


@dataclasses.dataclass
class ParkedRecords:
    records: RenderRecords
    meanwhile: Callable[[], Awaitable[None]]

    async def history(self, task_id: UUID) -> list[Envelope]:
        found = await self.records.history(task_id)
        await self.meanwhile()
        return found

    async def append(self, task_id: UUID, version: int, event: AnyEvent, cause: Envelope) -> None:
        await self.records.append(task_id, version, event, cause)

    async def append_progress(self, task_id: UUID, event: AnyEvent, cause: Envelope) -> None:
        await self.records.append_progress(task_id, event, cause)

    async def claim(self, task_id: UUID, holder: str, now: datetime, lease: timedelta) -> bool:
        return await self.records.claim(task_id, holder, now, lease)

    async def lease_holder(self, task_id: UUID, now: datetime) -> str | None:
        return await self.records.lease_holder(task_id, now)

    async def lease_expiry(self, task_id: UUID) -> datetime | None:
        return await self.records.lease_expiry(task_id)

    async def release(self, task_id: UUID, holder: str) -> None:
        await self.records.release(task_id, holder)
