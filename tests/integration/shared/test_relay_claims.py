"""Several relays on one outbox, and entries SNS refuses on their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest

from shared.contracts.envelope import Envelope
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.store import EventStore
from shared.messaging.outbox import SqlOutbox
from shared.messaging.publisher import InMemoryBus, Outgoing, Refused
from shared.messaging.relay import OutboxRelay
from shared.messaging.relay_lease import RelayLease
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.polling import eventually
from tests.support.stores import deleted, make_store

STREAMS = 20
EVENTS_PER_STREAM = 10


@pytest.fixture
async def two_instances(postgres_schema: str) -> AsyncIterator[tuple[EventStore, EventStore]]:
    """Two services' stores (two engines, two pools) on one PostgreSQL schema."""
    settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema)
    first, second = await make_store(settings), await make_store(settings)
    yield first, second
    await first.engine.dispose()
    await second.engine.dispose()


async def append_all(stores: Sequence[EventStore]) -> None:
    """Each stream written by both instances in turn, version after version."""
    for version in range(EVENTS_PER_STREAM):
        for stream in range(STREAMS):
            store = stores[(stream + version) % len(stores)]
            async with store.transaction() as conn:
                await store.append(
                    conn,
                    todo_stream_id(stream),
                    version,
                    [deleted(stream)],
                    origin=ANONYMOUS_ORIGIN,
                )


def stream_versions(sent: Sequence[Outgoing]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = {}
    for message in sent:
        envelope = Envelope.from_json(message.body)
        versions.setdefault(envelope.stream_id, []).append(envelope.stream_version)
    return versions


async def test_two_relays_on_one_outbox_publish_each_event_once_in_stream_order(
    two_instances: tuple[EventStore, EventStore],
) -> None:
    bus = InMemoryBus()
    relays = [
        OutboxRelay(SqlOutbox(store), bus, lease=RelayLease(store), poll_interval_s=0.01)
        for store in two_instances
    ]
    running = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await append_all(two_instances)
        total = STREAMS * EVENTS_PER_STREAM
        await eventually(lambda: _true_if(len(bus.sent) >= total), timeout_s=30)
        # give a second publisher, if there were one, time to send its copies
        await asyncio.sleep(0.5)
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*running)

    positions = [message.position for message in bus.sent]
    assert len(positions) == len(set(positions)) == STREAMS * EVENTS_PER_STREAM
    expected = list(range(1, EVENTS_PER_STREAM + 1))
    assert all(found == expected for found in stream_versions(bus.sent).values())
    assert sorted(relay.published for relay in relays)[0] == 0, "both relays published"


async def test_a_standby_relay_takes_over_when_the_publishing_one_stops(
    two_instances: tuple[EventStore, EventStore],
) -> None:
    first_store, second_store = two_instances
    bus = InMemoryBus()
    first = OutboxRelay(
        SqlOutbox(first_store), bus, lease=RelayLease(first_store), poll_interval_s=0.01
    )
    second = OutboxRelay(
        SqlOutbox(second_store), bus, lease=RelayLease(second_store), poll_interval_s=0.01
    )
    assert await first.publish_pending() == 0
    assert await second.publish_pending() == 0, "the lease is the first relay's"

    await first.release()
    async with first_store.transaction() as conn:
        await first_store.append(conn, todo_stream_id(1), 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)
    await asyncio.sleep(1.1)  # a standby asks again after a second

    assert await second.publish_pending() == 1
    assert await first.publish_pending() == 0


async def test_a_lease_that_runs_out_passes_to_another_relay(
    two_instances: tuple[EventStore, EventStore],
) -> None:
    first_store, second_store = two_instances
    crashed = RelayLease(first_store, ttl_s=0.2)
    assert await crashed.hold()
    standby = RelayLease(second_store)
    assert not await standby.hold()

    await asyncio.sleep(1.1)

    assert await standby.hold()


@dataclass
class RefusingBus:
    """Refuses every entry of one stream, takes the rest."""

    refused_stream: str
    sent: list[Outgoing] = field(default_factory=list)
    calls: int = 0

    async def publish(self, batch: Sequence[Outgoing]) -> Refused:
        self.calls += 1
        refused: Refused = {}
        for message in batch:
            if Envelope.from_json(message.body).stream_id == self.refused_stream:
                refused[message.position] = "InvalidParameter: refused for the test"
            else:
                self.sent.append(message)
        return refused


async def test_an_entry_refused_on_its_own_is_set_aside_and_the_rest_flows(
    store: EventStore,
) -> None:
    bus = RefusingBus(refused_stream=todo_stream_id(2))
    relay = OutboxRelay(SqlOutbox(store), bus, lease=RelayLease(store), poll_interval_s=1)
    for todo_id in (1, 2, 3):
        async with store.transaction() as conn:
            await store.append(
                conn, todo_stream_id(todo_id), 0, [deleted(todo_id)], origin=ANONYMOUS_ORIGIN
            )

    assert await relay.publish_pending() == 2
    calls = bus.calls
    # not retried hot: the next read leaves it aside, while a new event goes out
    async with store.transaction() as conn:
        await store.append(conn, todo_stream_id(4), 0, [deleted(4)], origin=ANONYMOUS_ORIGIN)
    assert await relay.publish_pending() == 1

    assert bus.calls == calls + 1
    assert await SqlOutbox(store).backlog() == 1
    assert {Envelope.from_json(m.body).stream_id for m in bus.sent} == {
        todo_stream_id(1),
        todo_stream_id(3),
        todo_stream_id(4),
    }


async def _true_if(condition: bool) -> bool:
    return condition
