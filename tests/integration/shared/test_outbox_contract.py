"""The outbox port, one contract: the outbox table (SQLite, PostgreSQL) and the in-memory twin
the relay's unit tests use (tests/support/fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from shared.contracts.envelope import Envelope, wrap
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.store import EventStore
from shared.messaging.outbox import Outbox, SqlOutbox
from shared.settings import Settings
from tests.support.fakes import MemoryOutbox
from tests.support.stores import deleted, make_store


@dataclass(frozen=True)
class Queued:
    """An outbox and how events get into it: an append's commit, or its in-memory stand-in."""

    outbox: Outbox
    queue: Callable[[list[Envelope]], Awaitable[list[int]]]


@pytest.fixture
async def queued(backend: Settings | None) -> AsyncIterator[Queued]:
    if backend is None:
        memory = MemoryOutbox()

        async def queue_in_memory(envelopes: list[Envelope]) -> list[int]:
            return memory.queue(envelopes)

        yield Queued(memory, queue_in_memory)
        return
    store = await make_store(backend)
    yield Queued(SqlOutbox(store), lambda envelopes: _append(store, envelopes))
    await store.engine.dispose()


async def _append(store: EventStore, envelopes: list[Envelope]) -> list[int]:
    """Store and queue the envelopes in one transaction; the positions the log gave them."""
    events = store.tables.events
    ids = [str(envelope.event_id) for envelope in envelopes]
    async with store.transaction() as conn:
        await store.insert(conn, envelopes, publish=True)
        query = select(events.c.event_id, events.c.position).where(events.c.event_id.in_(ids))
        positions = {event_id: position for event_id, position in await conn.execute(query)}
    return [positions[event_id] for event_id in ids]


def envelopes(count: int) -> list[Envelope]:
    return [
        wrap(
            deleted(number),
            stream_id=todo_stream_id(number),
            stream_version=1,
            origin=ANONYMOUS_ORIGIN,
        )
        for number in range(count)
    ]


class TestOutbox:
    async def test_an_empty_outbox_has_nothing_pending(self, queued: Queued) -> None:
        assert await queued.outbox.pending() == []
        assert await queued.outbox.backlog() == 0

    async def test_queued_events_are_pending_oldest_first_as_they_were_stored(
        self, queued: Queued
    ) -> None:
        stored = envelopes(3)
        await queued.queue(stored[:2])
        await queued.queue(stored[2:])

        pending = await queued.outbox.pending()

        assert [entry.body for entry in pending] == [envelope.to_json() for envelope in stored]
        assert [entry.type for entry in pending] == ["TodoDeleted"] * 3
        positions = [entry.position for entry in pending]
        assert positions == sorted(set(positions))
        assert await queued.outbox.backlog() == 3

    async def test_pending_gives_at_most_the_limit_after_the_skipped_positions(
        self, queued: Queued
    ) -> None:
        first, second, third, fourth = await queued.queue(envelopes(4))

        assert [e.position for e in await queued.outbox.pending(limit=2)] == [first, second]
        skipped = await queued.outbox.pending(limit=2, skip={first, third})
        assert [e.position for e in skipped] == [second, fourth]

    async def test_published_entries_leave_and_the_rest_stay_in_order(self, queued: Queued) -> None:
        first, second, third = await queued.queue(envelopes(3))

        await queued.outbox.mark_published([first, third])

        assert [e.position for e in await queued.outbox.pending()] == [second]
        assert await queued.outbox.backlog() == 1

    async def test_marking_entries_no_longer_pending_changes_nothing(self, queued: Queued) -> None:
        first, second = await queued.queue(envelopes(2))
        await queued.outbox.mark_published([first])

        # a relay that took over may mark what its predecessor already published
        await queued.outbox.mark_published([first])

        assert [e.position for e in await queued.outbox.pending()] == [second]
