"""A cancelled job on the worker, on the in-memory twins of its records and blob store: never
rendered once it is revoked, stopped at its next chunk while it renders, nothing recorded after
the revocation, and the revocation published as the job's one outcome. The same on SQLite and
PostgreSQL: tests/integration/calendar_worker/test_cancel.py."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from services.calendar_worker.handlers import WorkerPorts, build_calendar, cancel_calendar
from services.calendar_worker.rendering import calendar_blob_key
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CalendarCancelled, TodoSnapshot
from shared.contracts.streams import calendar_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from tests.support.factories import (
    NOW,
    calendar_envelope,
    calendar_requested,
    delivery,
    todo_snapshot,
    todo_snapshots,
)
from tests.support.fakes import MemoryRenderBook
from tests.support.polling import eventually
from tests.support.slow_render import chunks_of, slow_render

LARGE = 10_000


@pytest.fixture
def blobs() -> InMemoryBlobStore:
    return InMemoryBlobStore()


@pytest.fixture
def ports(book: MemoryRenderBook, blobs: InMemoryBlobStore) -> WorkerPorts:
    return WorkerPorts(book, blobs, watch_interval_s=0.02)


@pytest.fixture(params=["quick", "leased"])
def either(request: pytest.FixtureRequest, ports: WorkerPorts) -> WorkerPorts:
    """Each test twice: a small calendar rendered at once, and the leased path of large ones."""
    return ports if request.param == "quick" else dataclasses.replace(ports, quick_render_todos=0)


def request(todos: tuple[TodoSnapshot, ...]) -> Envelope:
    return calendar_envelope(calendar_requested(todos))


def cancel_of(requested: Envelope) -> Envelope:
    """The job's cancel as todo_api publishes it: the second event of the job's stream."""
    task_id = requested.correlation_id
    assert task_id is not None
    cancel = CalendarCancelled(task_id=task_id, cancelled_at=NOW)
    return wrap(
        cancel,
        stream_id=calendar_stream_id(task_id),
        stream_version=2,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )


async def render_types(ports: WorkerPorts, requested: Envelope) -> list[str]:
    assert requested.correlation_id is not None
    return [event.type for event in await ports.book.history(requested.correlation_id)]


def stored(blobs: InMemoryBlobStore, requested: Envelope) -> bool:
    assert requested.correlation_id is not None
    return calendar_blob_key(requested.tenant, requested.correlation_id) in blobs.blobs


class TestCancelBeforeTheRender:
    async def test_a_request_whose_cancel_came_first_is_never_rendered_even_when_redelivered(
        self, either: WorkerPorts, book: MemoryRenderBook, blobs: InMemoryBlobStore
    ) -> None:
        requested = request((todo_snapshot(1),))
        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), either)

        await build_calendar(requested, delivery(), either)
        await build_calendar(requested, delivery(receive_count=2), either)

        assert await render_types(either, requested) == ["CalendarRevoked"]
        assert not stored(blobs, requested)
        # the revocation tells the tracker how the job ended
        assert [envelope.type for envelope in book.state.queued] == ["CalendarRevoked"]

    async def test_a_cancel_delivered_twice_is_revoked_once(self, ports: WorkerPorts) -> None:
        requested = request((todo_snapshot(1),))

        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), ports)
        await cancel_calendar(cancel_of(requested), delivery(message_id="c-2"), ports)

        assert await render_types(ports, requested) == ["CalendarRevoked"]

    async def test_a_cancel_after_the_outcome_changes_nothing(
        self, either: WorkerPorts, book: MemoryRenderBook
    ) -> None:
        requested = request((todo_snapshot(1),))
        await build_calendar(requested, delivery(), either)
        before = await render_types(either, requested)

        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), either)

        assert await render_types(either, requested) == before
        assert before[-1] == "CalendarReady"


class TestCancelWhileRendering:
    async def test_the_render_stops_at_its_next_chunk_and_stores_nothing(
        self,
        ports: WorkerPorts,
        book: MemoryRenderBook,
        blobs: InMemoryBlobStore,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        render = slow_render(monkeypatch, chunk_s=0.05)
        requested = request(todo_snapshots(LARGE))
        rendering = asyncio.create_task(build_calendar(requested, delivery(), ports))

        await eventually(lambda: _at_least(render.chunks, 3), timeout_s=10, interval_s=0.01)
        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), ports)
        chunks_at_cancel = render.chunks
        await rendering

        assert await render_types(ports, requested) == ["CalendarStarted", "CalendarRevoked"]
        # the render looks every 20 ms and a chunk takes 50 ms: it stops within a chunk or two
        assert render.chunks <= chunks_at_cancel + 2 < chunks_of(LARGE)
        assert not stored(blobs, requested)
        assert book.state.leases == {}
        assert "CalendarReady" not in [event.type for event in book.state.queued]

    async def test_a_redelivery_after_a_stopped_render_is_not_rendered_again(
        self, ports: WorkerPorts, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        render = slow_render(monkeypatch, chunk_s=0.05)
        requested = request(todo_snapshots(LARGE))
        rendering = asyncio.create_task(build_calendar(requested, delivery(), ports))
        await eventually(lambda: _at_least(render.chunks, 2), timeout_s=10, interval_s=0.01)
        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), ports)
        await rendering
        chunks = render.chunks

        await build_calendar(requested, delivery(receive_count=2, message_id="m-2"), ports)

        assert render.chunks == chunks
        assert await render_types(ports, requested) == ["CalendarStarted", "CalendarRevoked"]

    async def test_a_cancel_while_the_file_is_stored_leaves_no_outcome(
        self, ports: WorkerPorts, book: MemoryRenderBook
    ) -> None:
        blobs = SlowBlobStore()
        slow = dataclasses.replace(ports, blobs=blobs, quick_render_todos=0)
        requested = request((todo_snapshot(1),))
        rendering = asyncio.create_task(build_calendar(requested, delivery(), slow))
        await eventually(lambda: _storing(slow), timeout_s=30, interval_s=0.01)

        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), slow)
        blobs.stored.set()
        await rendering

        assert await render_types(slow, requested) == ["CalendarStarted", "CalendarRevoked"]
        assert book.state.leases == {}


async def _at_least(value: int, minimum: int) -> bool:
    return value >= minimum


async def _storing(ports: WorkerPorts) -> bool:
    assert isinstance(ports.blobs, SlowBlobStore)
    return ports.blobs.storing


class SlowBlobStore(InMemoryBlobStore):
    """A put that is under way until `stored` is set."""

    storing = False

    def __init__(self) -> None:
        super().__init__()
        self.stored = asyncio.Event()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.storing = True
        await self.stored.wait()
        await super().put(key, data, content_type)
