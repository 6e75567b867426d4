"""build_calendar on the worker's real records (SQLite and PostgreSQL): what the unit tests
(tests/unit/test_build_calendar.py) check on the fake, here with real transactions racing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from services.calendar_worker.handlers import WorkerPorts, build_calendar
from services.calendar_worker.records import SqlRenderBook
from services.calendar_worker.tables import SCHEMA
from shared.blobs import InMemoryBlobStore
from shared.consumer import BusyError
from shared.outbox import SqlOutbox
from shared.settings import Settings
from shared.store import EventStore
from tests.factories import calendar_envelope, calendar_requested, delivery, task_of, todo_snapshot
from tests.stores import service_store


@pytest.fixture
async def worker_store(database: Settings) -> AsyncIterator[EventStore]:
    async with service_store(database, SCHEMA) as store:
        yield store


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
