"""The relay stops publishing the moment it learns its lease is gone: asked before each batch,
and told by the outbox's fenced delete (the real fence on PostgreSQL and moto:
tests/integration/shared/test_relay_fence.py)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from shared.contracts.envelope import wrap
from shared.contracts.events import TodoDeleted
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.messaging.batching import MAX_BATCH_ENTRIES
from shared.messaging.outbox import LeaseLostError
from shared.messaging.publisher import InMemoryBus
from shared.messaging.relay import OutboxRelay
from tests.support.factories import NOW
from tests.support.fakes import MemoryOutbox


@dataclass
class LeaseHeldFor:
    """A lease that answers `hold()` with True this many times, then False."""

    holds: int

    @property
    def held(self) -> bool:
        return self.holds > 0

    async def hold(self) -> bool:
        self.holds -= 1
        return self.holds >= 0

    async def release(self) -> None:
        self.holds = 0

    def kept(self) -> AbstractAsyncContextManager[None]:
        return nullcontext()


class FencedOutbox(MemoryOutbox):
    """Its deletes refused from the first one on: the lease passed to another relay."""

    async def mark_published(self, positions: Sequence[int]) -> None:
        raise LeaseLostError(f"{len(positions)} published entries left to the new holder")


def outbox_of(outbox: MemoryOutbox, count: int) -> MemoryOutbox:
    outbox.queue(
        wrap(
            TodoDeleted(id=n, deleted_at=NOW),
            stream_id=todo_stream_id(n),
            stream_version=1,
            origin=ANONYMOUS_ORIGIN,
        )
        for n in range(1, count + 1)
    )
    return outbox


async def test_a_lease_lost_between_batches_stops_the_read_before_the_next_batch() -> None:
    outbox, bus = outbox_of(MemoryOutbox(), MAX_BATCH_ENTRIES * 3), InMemoryBus()
    relay = OutboxRelay(outbox, bus, lease=LeaseHeldFor(holds=2), poll_interval_s=1)

    assert await relay.publish_pending() == 2 * MAX_BATCH_ENTRIES

    assert len(bus.sent) == 2 * MAX_BATCH_ENTRIES
    assert await outbox.backlog() == MAX_BATCH_ENTRIES


async def test_a_delete_refused_by_the_fence_ends_the_read_and_is_no_failure() -> None:
    outbox, bus = outbox_of(FencedOutbox(), MAX_BATCH_ENTRIES * 3), InMemoryBus()
    relay = OutboxRelay(outbox, bus, lease=LeaseHeldFor(holds=10), poll_interval_s=1)

    assert await relay.publish_pending() == 0

    # the one batch in flight went out; nothing after it, and the rows stay for the new holder
    assert len(bus.sent) == MAX_BATCH_ENTRIES
    assert await outbox.backlog() == MAX_BATCH_ENTRIES * 3
    assert relay.failures == 0
