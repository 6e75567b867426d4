"""The outbox relay against real databases: nothing skipped, nothing lost while the bus is down."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
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
