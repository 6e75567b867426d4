"""What a relay counts, on the in-memory outbox and bus: events the topic accepted, each batch's
time, failed publishes, and the backlog read at scrape time."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from shared.contracts.envelope import wrap
from shared.contracts.events import TodoDeleted
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.messaging.publisher import InMemoryBus
from shared.messaging.relay import OutboxRelay
from shared.observability.metrics import Metrics
from tests.support.factories import NOW
from tests.support.fakes import MemoryOutbox
from tests.support.polling import eventually
from tests.support.scrapes import Scrape


@dataclass
class HeldLease:
    held: bool = True

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        pass

    def kept(self) -> AbstractAsyncContextManager[None]:
        return nullcontext()


def outbox_of(count: int) -> MemoryOutbox:
    outbox = MemoryOutbox()
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


def relay_of(outbox: MemoryOutbox, bus: InMemoryBus, metrics: Metrics) -> OutboxRelay:
    return OutboxRelay(
        outbox, bus, lease=HeldLease(), poll_interval_s=0.01, batch=50, metrics=metrics.relay
    )


async def test_counts_the_events_published_and_times_each_batch() -> None:
    metrics, outbox = Metrics(), outbox_of(12)
    metrics.watch_outbox(relay_of(outbox, InMemoryBus(), metrics).backlog)
    before = Scrape.parse((await metrics.exposition()).decode())

    await relay_of(outbox, InMemoryBus(), metrics).publish_pending()

    after = Scrape.parse((await metrics.exposition()).decode())
    assert before.value("outbox_backlog_events") == 12
    assert after.value("outbox_backlog_events") == 0
    assert after.value("relay_events_published_total") == 12
    # at most ten entries a batch: two batches
    assert after.value("relay_publish_duration_seconds_count") == 2


async def test_counts_a_failed_publish_and_the_events_sent_after_it() -> None:
    metrics, outbox = Metrics(), outbox_of(3)
    relay = relay_of(outbox, InMemoryBus(fail_next=1), metrics)
    metrics.watch_outbox(relay.backlog)

    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: backlog_is_empty(outbox), timeout_s=30, interval_s=0.01)
    finally:
        relay.stop()
        await running

    found = Scrape.parse((await metrics.exposition()).decode())
    assert found.value("relay_publish_failures_total") == 1
    # after backing off it tried again, and the events went out
    assert found.value("relay_events_published_total") == 3
    assert found.value("outbox_backlog_events") == 0


async def backlog_is_empty(outbox: MemoryOutbox) -> bool:
    return await outbox.backlog() == 0
