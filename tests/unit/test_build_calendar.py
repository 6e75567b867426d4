"""build_calendar on the in-memory twins of its records and blob store (tests/support/fakes.py).

The same records on SQLite and PostgreSQL: tests/integration/calendar_worker/ (its
test_render_book_contract.py and test_build_calendar.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import timedelta

import pytest

from services.calendar_worker.handlers import WorkerPorts, build_calendar
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import Envelope
from shared.contracts.events import TodoSnapshot
from shared.messaging.consumer import BusyError
from tests.support.factories import (
    calendar_envelope,
    calendar_requested,
    delivery,
    task_of,
    todo_snapshot,
)
from tests.support.fakes import MemoryRenderBook


def request(
    todos: tuple[TodoSnapshot, ...] | None = (), snapshot_key: str | None = None
) -> Envelope:
    return calendar_envelope(calendar_requested(todos, snapshot_key=snapshot_key))


async def outcome_types(ports: WorkerPorts, envelope: Envelope) -> list[str]:
    task_id = envelope.correlation_id
    assert task_id is not None
    return [event.type for event in await ports.book.history(task_id)]


def leased(ports: WorkerPorts) -> WorkerPorts:
    """The ports with every calendar rendered under a lease, as large ones are."""
    return dataclasses.replace(ports, quick_render_todos=0)


@pytest.fixture(params=["quick", "leased"])
def either(request: pytest.FixtureRequest, ports: WorkerPorts) -> WorkerPorts:
    """Each test twice: a small calendar rendered at once, and the leased path of large ones."""
    return ports if request.param == "quick" else leased(ports)


def started(ports: WorkerPorts, times: int = 1) -> list[str]:
    """The starts the render stream records first: none on the quick path."""
    return [] if ports.quick_render_todos else ["CalendarStarted"] * times


class TestBuildCalendar:
    async def test_stores_the_file_and_records_the_outcome(
        self, either: WorkerPorts, book: MemoryRenderBook
    ) -> None:
        envelope = request((todo_snapshot(1), todo_snapshot(2)))

        await build_calendar(envelope, delivery(), either)

        events = await either.book.history(task_of(envelope))
        assert [event.type for event in events] == [*started(either), "CalendarReady"]
        ready = events[-1].data
        blob = await either.blobs.get(ready.blob_key)  # type: ignore[union-attr]
        assert hashlib.sha256(blob).hexdigest() == ready.sha256  # type: ignore[union-attr]
        assert blob.count(b"BEGIN:VEVENT") == 2
        assert all(event.causation_id == envelope.event_id for event in events)
        assert book.state.queued == events

    async def test_a_small_calendar_is_rendered_without_a_lease_and_a_large_one_with(
        self, ports: WorkerPorts
    ) -> None:
        small, large = request((todo_snapshot(1),)), request((todo_snapshot(1), todo_snapshot(2)))
        threshold = dataclasses.replace(ports, quick_render_todos=1)

        await build_calendar(small, delivery(), threshold)
        await build_calendar(large, delivery(), threshold)

        assert await outcome_types(ports, small) == ["CalendarReady"]
        assert await outcome_types(ports, large) == ["CalendarStarted", "CalendarReady"]

    async def test_a_duplicate_delivery_after_success_changes_nothing(
        self, either: WorkerPorts
    ) -> None:
        envelope = request((todo_snapshot(1),))
        await build_calendar(envelope, delivery(), either)

        await build_calendar(envelope, delivery(receive_count=2), either)

        assert await outcome_types(either, envelope) == [*started(either), "CalendarReady"]

    async def test_concurrent_deliveries_of_one_request_record_one_outcome(
        self, either: WorkerPorts
    ) -> None:
        envelope = request((todo_snapshot(1),))

        # five copies of one request, as SNS may deliver it: five SQS messages
        results = await asyncio.gather(
            *(build_calendar(envelope, delivery(message_id=f"m-{n}"), either) for n in range(5)),
            return_exceptions=True,
        )

        assert all(isinstance(result, (type(None), BusyError)) for result in results), results
        assert await outcome_types(either, envelope) == [*started(either), "CalendarReady"]

    async def test_a_duplicate_waits_for_a_render_in_progress_instead_of_restarting_it(
        self, ports: WorkerPorts
    ) -> None:
        slow = leased(WorkerPorts(ports.book, SlowBlobStore()))
        envelope = request((todo_snapshot(1),))
        first = asyncio.create_task(build_calendar(envelope, delivery(message_id="m-1"), slow))
        await asyncio.sleep(0.2)

        with pytest.raises(BusyError) as busy:
            await build_calendar(envelope, delivery(message_id="m-2"), slow)
        await first

        assert busy.value.retry_after_s > 0
        assert await outcome_types(ports, envelope) == ["CalendarStarted", "CalendarReady"]
        # asked again once the first is done, the duplicate finds the job finished
        await build_calendar(envelope, delivery(message_id="m-2"), slow)
        assert await outcome_types(ports, envelope) == ["CalendarStarted", "CalendarReady"]

    async def test_a_render_whose_lease_ran_out_is_taken_over_by_a_duplicate(
        self, ports: WorkerPorts
    ) -> None:
        short = leased(WorkerPorts(ports.book, BrokenBlobStore(), lease=timedelta(0)))
        envelope = request((todo_snapshot(1),))
        with pytest.raises(ConnectionError):
            await build_calendar(envelope, delivery(message_id="m-1"), short)

        await build_calendar(envelope, delivery(message_id="m-2"), leased(ports))

        # each delivery records its own start, though both are first receives of their message
        assert await outcome_types(ports, envelope) == [
            "CalendarStarted",
            "CalendarStarted",
            "CalendarReady",
        ]

    async def test_a_quick_render_meeting_a_leased_start_leaves_the_job_to_that_path(
        self, ports: WorkerPorts
    ) -> None:
        # a start recorded by a worker that leases every calendar, whose message came back
        envelope = request((todo_snapshot(1),))
        with pytest.raises(ConnectionError):
            await build_calendar(
                envelope,
                delivery(),
                leased(WorkerPorts(ports.book, BrokenBlobStore())),
            )

        await build_calendar(envelope, delivery(receive_count=2), ports)

        assert await outcome_types(ports, envelope) == [
            "CalendarStarted",
            "CalendarStarted",
            "CalendarReady",
        ]


class TestFailures:
    async def test_a_missing_snapshot_fails_the_job_at_once_with_the_reason(
        self, ports: WorkerPorts
    ) -> None:
        # a claim-checked snapshot is a large calendar: always the leased path
        envelope = request(todos=None, snapshot_key="snapshots/gone.json")

        await build_calendar(envelope, delivery(receive_count=1), ports)

        events = await ports.book.history(task_of(envelope))
        assert [event.type for event in events] == ["CalendarStarted", "CalendarFailed"]
        assert events[1].data.reason == "the calendar's snapshot of todos is missing"  # type: ignore[union-attr]

    async def test_a_failure_is_raised_for_a_retry_until_the_last_attempt_then_recorded(
        self, either: WorkerPorts
    ) -> None:
        buggy = dataclasses.replace(either, blobs=BuggyBlobStore())
        envelope = request((todo_snapshot(1),))

        with pytest.raises(RuntimeError):
            await build_calendar(envelope, delivery(receive_count=1), buggy)
        await build_calendar(envelope, delivery(receive_count=3), buggy)

        events = await either.book.history(task_of(envelope))
        assert [event.type for event in events] == [*started(either, 2), "CalendarFailed"]
        # the client is told a short reason; the exception text stays in the log
        assert events[-1].data.reason == "the calendar could not be built"  # type: ignore[union-attr]
        assert "arn:aws" not in events[-1].data.reason  # type: ignore[union-attr]

    async def test_an_outage_is_never_recorded_as_a_failure_even_on_the_last_attempt(
        self, either: WorkerPorts
    ) -> None:
        broken = dataclasses.replace(either, blobs=BrokenBlobStore())
        envelope = request((todo_snapshot(1),))

        with pytest.raises(ConnectionError):
            await build_calendar(envelope, delivery(receive_count=3), broken)
        # held and tried again in place once S3 answers: one start, one outcome
        await build_calendar(envelope, delivery(receive_count=3), either)

        assert await outcome_types(either, envelope) == [*started(either), "CalendarReady"]


class BrokenBlobStore(InMemoryBlobStore):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        raise ConnectionError("S3 is unreachable")


class BuggyBlobStore(InMemoryBlobStore):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        raise RuntimeError("AccessDenied for arn:aws:s3:::taskoverflow-calendars/123456789012")


class SlowBlobStore(InMemoryBlobStore):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.sleep(1)
        await super().put(key, data, content_type)
