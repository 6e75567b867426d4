"""The outbox relay against real databases: nothing skipped, nothing lost while the bus is down."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import pytest

from shared.contracts.streams import TODO_PREFIX, todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.store import EventStore
from shared.messaging.outbox import SqlOutbox
from shared.messaging.publisher import InMemoryBus, Outgoing, Refused
from shared.messaging.relay import OutboxRelay
from shared.messaging.relay_lease import RelayLease
from tests.support.polling import eventually
from tests.support.stores import deleted


async def test_a_commit_that_lands_after_a_later_position_is_still_published(
    postgres_store: EventStore,
) -> None:
    store, bus = postgres_store, InMemoryBus()
    relay = OutboxRelay(SqlOutbox(store), bus, lease=RelayLease(store), poll_interval_s=1)
    async with store.engine.connect() as early:
        transaction = await early.begin()
        # takes the lower position but commits last
        await store.append(early, todo_stream_id(1), 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)
        async with store.transaction() as late:
            await store.append(late, todo_stream_id(2), 0, [deleted(2)], origin=ANONYMOUS_ORIGIN)
        await relay.publish_pending()
        await transaction.commit()
    await relay.publish_pending()

    sent_streams = [message.body for message in bus.sent]
    assert len(sent_streams) == 2
    assert f'"{todo_stream_id(2)}"' in sent_streams[0]
    assert f'"{todo_stream_id(1)}"' in sent_streams[1]
    assert await SqlOutbox(store).backlog() == 0


async def test_events_wait_in_the_outbox_while_the_bus_is_down(store: EventStore) -> None:
    bus = InMemoryBus(fail_next=2)
    relay = OutboxRelay(SqlOutbox(store), bus, lease=RelayLease(store), poll_interval_s=1)
    async with store.transaction() as conn:
        await store.append(conn, todo_stream_id(1), 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await relay.publish_pending()
    assert await SqlOutbox(store).backlog() == 1

    assert await relay.publish_pending() == 1
    assert await SqlOutbox(store).backlog() == 0
    assert len(bus.sent) == 1


async def test_a_streams_events_are_published_in_version_order(store: EventStore) -> None:
    bus = InMemoryBus()
    async with store.transaction() as conn:
        await store.append(
            conn,
            todo_stream_id(1),
            0,
            [deleted(1), deleted(1), deleted(1)],
            origin=ANONYMOUS_ORIGIN,
        )

    await OutboxRelay(
        SqlOutbox(store), bus, lease=RelayLease(store), poll_interval_s=1
    ).publish_pending()

    versions = [message.body.split('"stream_version":')[1][0] for message in bus.sent]
    assert versions == ["1", "2", "3"]


async def test_a_stopped_relay_publishes_what_it_holds_and_returns(store: EventStore) -> None:
    bus = InMemoryBus()
    relay = OutboxRelay(SqlOutbox(store), bus, lease=RelayLease(store), poll_interval_s=30)
    running = asyncio.create_task(relay.run())
    async with store.transaction() as conn:
        await store.append(conn, todo_stream_id(1), 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)
    relay.notify()
    await eventually(lambda: _sent(bus, 1), timeout_s=30)

    relay.stop()

    await asyncio.wait_for(running, timeout=10)
    assert relay.published == 1


async def _sent(bus: InMemoryBus, count: int) -> bool:
    return len(bus.sent) == count


@dataclass
class TimedBus(InMemoryBus):
    """Remembers when each batch was published and how many events it held."""

    batches: list[tuple[float, int]] = field(default_factory=list)

    async def publish(self, batch: Sequence[Outgoing]) -> Refused:
        self.batches.append((time.monotonic(), len(batch)))
        return await super().publish(batch)


async def _append(store: EventStore, relay: OutboxRelay, count: int) -> None:
    """`count` events in one transaction, and the nudge a service gives after a commit."""
    async with store.transaction() as conn:
        for _ in range(count):
            await store.append(
                conn, f"{TODO_PREFIX}{uuid4()}", 0, [deleted(1)], origin=ANONYMOUS_ORIGIN
            )
    relay.notify()


class TestBatchWindow:
    # long enough that half of it tells "at once" from "after the window" on a stalled host
    WINDOW_S = 15.0

    async def published(
        self, store: EventStore, rounds: list[list[int]]
    ) -> list[tuple[float, int]]:
        """Run a relay with the window; each round commits transactions of the given sizes and
        waits until they are out. The batches it published: when, and how many events."""
        bus = TimedBus()
        relay = OutboxRelay(
            SqlOutbox(store),
            bus,
            lease=RelayLease(store),
            poll_interval_s=30,
            batch_window_s=self.WINDOW_S,
        )
        running = asyncio.create_task(relay.run())
        expected = 0
        for commits in rounds:
            expected += sum(commits)
            for count in commits:
                await _append(store, relay, count)
            await eventually(functools.partial(_sent, bus, expected), timeout_s=self.WINDOW_S + 30)
        relay.stop()
        await asyncio.wait_for(running, timeout=30)
        return bus.batches

    async def test_after_several_events_the_next_publish_waits_the_window(
        self, store: EventStore
    ) -> None:
        # then two commits, each nudging: they leave together once the window has passed
        (first, three), (second, two) = await self.published(store, [[3], [1, 1]])

        assert (three, two) == (3, 2)
        assert second - first >= self.WINDOW_S * 0.9

    async def test_a_lone_event_never_waits(self, store: EventStore) -> None:
        (first, _), (second, _) = await self.published(store, [[1], [1]])

        assert second - first < self.WINDOW_S / 2


class ReadHook(SqlOutbox):
    """The outbox table, with something done around the relay's reads: `before` and `after`,
    one time each, on the read they are set for (counted from 1)."""

    def __init__(self, store: EventStore) -> None:
        super().__init__(store, fence=None)
        self.reads = 0
        self.before: dict[int, Callable[[], Awaitable[None]]] = {}
        self.after: dict[int, Callable[[], Awaitable[None]]] = {}

    async def pending(self, limit: int = 100, skip: Collection[int] = ()) -> list[Outgoing]:
        self.reads += 1
        if hook := self.before.pop(self.reads, None):
            await hook()
        found = await super().pending(limit, skip)
        if hook := self.after.pop(self.reads, None):
            await hook()
        return found


class TestRowsToldByCommits:
    """Each commit tells the relay of its process the rows it queued (on_outbox_commit); once a
    read found the outbox empty, they go out as told: one read fewer before each publish."""

    IDLE_S = 600.0

    @staticmethod
    async def commit(store: EventStore) -> None:
        async with store.transaction() as conn:
            stream = f"{TODO_PREFIX}{uuid4()}"
            await store.append(conn, stream, 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)

    @contextlib.asynccontextmanager
    async def running(self, store: EventStore, outbox: ReadHook, bus: InMemoryBus) -> Any:
        relay = OutboxRelay(outbox, bus, lease=RelayLease(store), poll_interval_s=self.IDLE_S)
        store.on_outbox_commit(relay.notify)
        task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: _at_least(outbox.reads, 1), timeout_s=30)
            yield relay
        finally:
            relay.stop()
            await asyncio.wait_for(task, timeout=30)

    async def test_a_commit_goes_out_as_told_once_without_a_read(self, store: EventStore) -> None:
        outbox, bus = ReadHook(store), InMemoryBus()
        async with self.running(store, outbox, bus):
            await self.commit(store)
            await eventually(lambda: _sent(bus, 1), timeout_s=30)
            await self.commit(store)
            await eventually(lambda: _sent(bus, 2), timeout_s=30)

        assert outbox.reads == 1
        assert await SqlOutbox(store).backlog() == 0

    @pytest.mark.parametrize("when", ["before", "after"])
    async def test_a_commit_that_lands_during_a_read_goes_out_once(
        self, store: EventStore, when: str
    ) -> None:
        """Committed as the second read begins, the read finds it and publishes it before the
        relay is told; committed as it ends, the read misses it and the telling sends it."""
        outbox, bus = ReadHook(store), InMemoryBus()
        getattr(outbox, when)[2] = functools.partial(self.commit, store)
        async with self.running(store, outbox, bus) as relay:
            relay.notify()
            await eventually(lambda: _sent(bus, 1), timeout_s=30)
            # a later commit's turn comes after the telling of the first one
            await self.commit(store)
            await eventually(lambda: _sent(bus, 2), timeout_s=30)

        bodies = [message.body for message in bus.sent]
        assert len(set(bodies)) == 2
        assert await SqlOutbox(store).backlog() == 0


async def _at_least(value: int, least: int) -> bool:
    return value >= least
