"""The outbox relay on the in-memory outbox (tests/support/fakes.py, held to the outbox table by
tests/integration/shared/test_outbox_contract.py): what it reads, sends and marks, without a
database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import astuple, dataclass, field

import pytest

from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import TodoDeleted
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.store import OutboxRow
from shared.messaging.batching import MAX_BATCH_ENTRIES
from shared.messaging.publisher import InMemoryBus, Outgoing, Refused
from shared.messaging.relay import OutboxRelay
from tests.support.factories import NOW
from tests.support.fakes import MemoryOutbox
from tests.support.polling import eventually


@dataclass
class Lease:
    """A relay's lease that a test grants or withholds (the real one: tests/integration)."""

    held: bool = True
    # how many times the relay asked for it
    asked: int = 0

    async def hold(self) -> bool:
        self.asked += 1
        return self.held

    async def release(self) -> None:
        self.held = False

    def kept(self) -> AbstractAsyncContextManager[None]:
        return nullcontext()


@dataclass
class ScriptedBus(InMemoryBus):
    """Remembers each batch it was offered; refuses some positions, or fails from a call on."""

    refuse: set[int] = field(default_factory=set)
    fail_from_call: int | None = None
    offered: list[list[int]] = field(default_factory=list)

    async def publish(self, batch: Sequence[Outgoing]) -> Refused:
        if self.fail_from_call is not None and len(self.offered) + 1 >= self.fail_from_call:
            raise ConnectionError("bus unavailable")
        self.offered.append([message.position for message in batch])
        refused = {
            m.position: "InvalidParameter: refused" for m in batch if m.position in self.refuse
        }
        self.sent.extend(message for message in batch if message.position not in refused)
        return refused


def deleted(todo_id: int) -> Envelope:
    return wrap(
        TodoDeleted(id=todo_id, deleted_at=NOW),
        stream_id=todo_stream_id(todo_id),
        stream_version=1,
        origin=ANONYMOUS_ORIGIN,
    )


def outbox_of(count: int) -> MemoryOutbox:
    """An outbox holding `count` events, at positions 1 to `count`."""
    outbox = MemoryOutbox()
    outbox.queue(deleted(number) for number in range(1, count + 1))
    return outbox


def relay(
    outbox: MemoryOutbox, bus: InMemoryBus, *, batch: int = 50, held: bool = True
) -> OutboxRelay:
    return OutboxRelay(outbox, bus, lease=Lease(held), poll_interval_s=1, batch=batch)


def sent(bus: InMemoryBus) -> list[int]:
    return [message.position for message in bus.sent]


class TestOutboxRelay:
    async def test_publishes_the_outbox_oldest_first_and_marks_it_published(self) -> None:
        outbox, bus = outbox_of(3), ScriptedBus()

        assert await relay(outbox, bus).publish_pending() == 3

        assert sent(bus) == [1, 2, 3]
        assert await outbox.backlog() == 0

    async def test_one_read_takes_at_most_a_batch_and_the_next_read_goes_on(self) -> None:
        outbox, bus = outbox_of(5), ScriptedBus()
        publisher = relay(outbox, bus, batch=2)

        published = [await publisher.publish_pending() for _ in range(4)]

        assert published == [2, 2, 1, 0]
        assert sent(bus) == [1, 2, 3, 4, 5]

    async def test_a_read_goes_out_in_batches_sns_accepts(self) -> None:
        outbox, bus = outbox_of(MAX_BATCH_ENTRIES * 2 + 3), ScriptedBus()

        await relay(outbox, bus).publish_pending()

        assert [len(batch) for batch in bus.offered] == [MAX_BATCH_ENTRIES, MAX_BATCH_ENTRIES, 3]

    async def test_a_relay_without_the_lease_publishes_nothing(self) -> None:
        outbox, bus = outbox_of(2), ScriptedBus()

        assert await relay(outbox, bus, held=False).publish_pending() == 0

        assert bus.offered == []
        assert await outbox.backlog() == 2

    async def test_what_sns_accepted_before_an_outage_is_not_published_again(self) -> None:
        outbox, bus = outbox_of(MAX_BATCH_ENTRIES + 2), ScriptedBus(fail_from_call=2)
        publisher = relay(outbox, bus)

        with pytest.raises(ConnectionError):
            await publisher.publish_pending()
        bus.fail_from_call = None
        assert await publisher.publish_pending() == 2

        assert sent(bus) == list(range(1, MAX_BATCH_ENTRIES + 3))

    async def test_an_entry_refused_on_its_own_is_set_aside_and_the_rest_flows(self) -> None:
        outbox, bus = outbox_of(3), ScriptedBus(refuse={2})
        publisher = relay(outbox, bus)
        assert await publisher.publish_pending() == 2

        outbox.queue([deleted(4)])
        assert await publisher.publish_pending() == 1

        assert bus.offered == [[1, 2, 3], [4]]
        assert [entry.position for entry in await outbox.pending()] == [2]

    async def test_flush_publishes_every_read_until_the_outbox_is_empty(self) -> None:
        outbox, bus = outbox_of(5), ScriptedBus()

        assert await relay(outbox, bus, batch=2).flush(timeout_s=5)

        assert sent(bus) == [1, 2, 3, 4, 5]
        assert await outbox.backlog() == 0


class CountedOutbox(MemoryOutbox):
    """Counts the relay's reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def pending(self, limit: int = 100, skip: Collection[int] = ()) -> list[Outgoing]:
        self.reads += 1
        return await super().pending(limit, skip)


def committed(outbox: MemoryOutbox, *todo_ids: int) -> list[OutboxRow]:
    """What a commit queues and tells its listeners: the outbox rows it wrote."""
    positions = outbox.queue(deleted(todo_id) for todo_id in todo_ids)
    return [OutboxRow(*astuple(outbox.entries[position])) for position in positions]


@contextlib.asynccontextmanager
async def running(publisher: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(publisher.run())
    try:
        yield
    finally:
        publisher.stop()
        await asyncio.wait_for(task, timeout=10)


async def until(condition: Callable[[], bool]) -> None:
    async def holds() -> bool:
        return condition()

    await eventually(holds, timeout_s=10, interval_s=0.005)


class TestRowsToldByCommits:
    """A commit in the relay's process tells it the rows it queued (EventStore.on_outbox_commit):
    after a read found the outbox empty, they go out as told, without a read."""

    # no turn comes from the clock in these tests, only from what they tell the relay
    IDLE_S = 600.0

    async def test_rows_told_after_an_empty_read_go_out_without_reading_them_back(self) -> None:
        outbox, bus = CountedOutbox(), ScriptedBus()
        publisher = OutboxRelay(outbox, bus, lease=Lease(), poll_interval_s=self.IDLE_S)
        async with running(publisher):
            await until(lambda: outbox.reads == 1)

            publisher.notify(committed(outbox, 1, 2))
            await until(lambda: len(bus.sent) == 2)
            publisher.notify(committed(outbox, 3))
            await until(lambda: len(bus.sent) == 3)

        assert sent(bus) == [1, 2, 3]
        assert outbox.reads == 1
        assert await outbox.backlog() == 0

    async def test_rows_told_before_any_read_go_out_with_what_the_outbox_held(self) -> None:
        outbox, bus = CountedOutbox(), ScriptedBus()
        # left by an earlier holder of the lease, or committed before this relay ran
        outbox.queue([deleted(1)])
        publisher = OutboxRelay(outbox, bus, lease=Lease(), poll_interval_s=self.IDLE_S)
        publisher.notify(committed(outbox, 2))
        async with running(publisher):
            await until(lambda: len(bus.sent) == 2)

        assert sent(bus) == [1, 2]

    async def test_a_row_a_read_published_before_it_was_told_goes_out_once(self) -> None:
        outbox, bus = CountedOutbox(), ScriptedBus()
        publisher = OutboxRelay(outbox, bus, lease=Lease(), poll_interval_s=self.IDLE_S)
        async with running(publisher):
            await until(lambda: outbox.reads == 1)
            # the commit lands, a nudge without rows (another process's) makes the relay read
            # it, and only then is it told of it
            late = committed(outbox, 1)
            publisher.notify()
            await until(lambda: len(bus.sent) == 1)
            publisher.notify(late)
            publisher.notify(committed(outbox, 2))
            await until(lambda: len(bus.sent) == 2)

        assert sent(bus) == [1, 2]
        assert outbox.reads == 2

    async def test_rows_another_process_commits_go_out_while_told_rows_keep_coming(
        self,
    ) -> None:
        outbox, bus = CountedOutbox(), ScriptedBus()
        # told rows are trusted for a poll interval after the last empty read, then it reads
        publisher = OutboxRelay(outbox, bus, lease=Lease(), poll_interval_s=0.2)
        async with running(publisher):
            await until(lambda: outbox.reads >= 1)
            [elsewhere] = outbox.queue([deleted(1)])
            for todo_id in range(2, 200):
                publisher.notify(committed(outbox, todo_id))
                await asyncio.sleep(0.01)
                if elsewhere in sent(bus):
                    break

        assert elsewhere in sent(bus)
        assert len(sent(bus)) == len(set(sent(bus)))

    async def test_a_told_row_sns_refuses_is_set_aside_in_the_outbox_and_the_rest_flows(
        self,
    ) -> None:
        outbox, bus = CountedOutbox(), ScriptedBus(refuse={1})
        publisher = OutboxRelay(outbox, bus, lease=Lease(), poll_interval_s=self.IDLE_S)
        async with running(publisher):
            await until(lambda: outbox.reads == 1)
            publisher.notify(committed(outbox, 1))
            await until(lambda: bus.offered == [[1]])
            publisher.notify(committed(outbox, 2))
            await until(lambda: len(bus.sent) == 1)

        assert sent(bus) == [2]
        assert outbox.reads == 1
        # kept for a read once its wait ends, as a refused entry read from the outbox is
        assert [entry.position for entry in await outbox.pending()] == [1]

    async def test_rows_told_to_a_relay_without_the_lease_are_left_to_its_holder(self) -> None:
        outbox, bus, lease = CountedOutbox(), ScriptedBus(), Lease()
        publisher = OutboxRelay(outbox, bus, lease=lease, poll_interval_s=self.IDLE_S)
        async with running(publisher):
            await until(lambda: outbox.reads == 1)
            lease.held = False
            publisher.notify(committed(outbox, 1))
            await until(lambda: lease.asked == 2)
            assert bus.offered == []

            # the holder reads the outbox and finds it there
            lease.held = True
            publisher.notify()
            await until(lambda: len(bus.sent) == 1)

        assert sent(bus) == [1]
        assert outbox.reads == 2
