"""Duplicates, leases and failures of build_calendar on the worker's real records (SQLite and
PostgreSQL) with its files in S3 on the wire (moto): what tests/unit/test_build_calendar.py
shows on the in-memory twins. Each test waits on events it controls, never on luck."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import IO, Any

import pytest
from botocore.exceptions import BotoCoreError
from sqlalchemy import update

from services.calendar_worker.handlers import WorkerPorts, build_calendar
from services.calendar_worker.records import SqlRenderBook
from services.calendar_worker.tables import render_leases
from shared.aws.blobs import S3BlobStore
from shared.aws.clients import aws_client
from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarFailed, CalendarReady
from shared.contracts.topology import Names
from shared.eventstore.store import EventStore
from shared.messaging.consumer import BusyError
from shared.messaging.outbox import SqlOutbox
from shared.messaging.publisher import InMemoryBus
from shared.messaging.relay import OutboxRelay
from shared.messaging.relay_lease import RelayLease
from shared.outages import is_outage
from shared.settings import Settings
from tests.support.factories import (
    calendar_envelope,
    calendar_requested,
    delivery,
    task_of,
    todo_snapshot,
)
from tests.support.faults import FaultProxy, proxied_url, target_of
from tests.support.polling import eventually

# every wait of these tests is bounded by this, far beyond what each needs
GUARD_S = 20.0


class WatchedBucket(S3BlobStore):
    """The calendar bucket on moto; counts the calendar files stored, and while `holding`
    keeps a store waiting (a render in progress) until `release()`."""

    def __init__(self, s3: Any, bucket: str) -> None:
        super().__init__(s3, bucket)
        self.stored = 0
        self.holding = False
        self.in_progress = asyncio.Event()
        self._released = asyncio.Event()

    def release(self) -> None:
        self.holding = False
        self._released.set()

    async def put_file(self, key: str, file: IO[bytes], content_type: str) -> None:
        if self.holding:
            self.in_progress.set()
            await self._released.wait()
        await super().put_file(key, file, content_type)
        self.stored += 1


@pytest.fixture
async def s3(module_topology: Settings) -> AsyncIterator[Any]:
    async with aws_client(module_topology, "s3") as client:
        yield client


@pytest.fixture
def bucket(s3: Any, module_topology: Settings) -> WatchedBucket:
    return WatchedBucket(s3, Names(module_topology.resource_prefix).bucket)


@pytest.fixture
def leased(worker_store: EventStore, bucket: WatchedBucket) -> WorkerPorts:
    """Every calendar rendered under a lease, as large ones are."""
    return WorkerPorts(SqlRenderBook(worker_store), bucket, quick_render_todos=0)


@pytest.fixture(params=["quick", "leased"])
def either(request: pytest.FixtureRequest, leased: WorkerPorts) -> WorkerPorts:
    """Each test on both paths: a small calendar rendered at once, and under a lease."""
    return (
        dataclasses.replace(leased, quick_render_todos=1000) if request.param == "quick" else leased
    )


def request() -> Envelope:
    return calendar_envelope(calendar_requested((todo_snapshot(1), todo_snapshot(2))))


async def history(ports: WorkerPorts, envelope: Envelope) -> list[Envelope]:
    return await ports.book.history(task_of(envelope))


async def run_out_the_lease(store: EventStore, envelope: Envelope) -> None:
    """The job's render lease as it is once its time is up."""
    async with store.transaction() as conn:
        moved = await conn.execute(
            update(render_leases)
            .where(render_leases.c.name == str(task_of(envelope)))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert moved.rowcount == 1


async def assert_one_file_for_its_outcome(
    ports: WorkerPorts, envelope: Envelope, bucket: WatchedBucket
) -> None:
    """The job has exactly one outcome, CalendarReady, last; its file is in S3 as recorded."""
    events = await history(ports, envelope)
    outcomes = [event for event in events if event.type in {"CalendarReady", "CalendarFailed"}]
    assert [event.type for event in outcomes] == ["CalendarReady"]
    assert events[-1] is outcomes[0]
    ready = outcomes[0].data
    assert isinstance(ready, CalendarReady)
    stored = await bucket.get(ready.blob_key)
    assert hashlib.sha256(stored).hexdigest() == ready.sha256
    assert stored.count(b"BEGIN:VEVENT") == 2
    assert bucket.stored == 1


class TestDuplicates:
    async def test_a_duplicate_waits_for_a_render_in_progress_instead_of_restarting_it(
        self, leased: WorkerPorts, bucket: WatchedBucket
    ) -> None:
        envelope = request()
        bucket.holding = True
        first = asyncio.create_task(build_calendar(envelope, delivery(message_id="m-1"), leased))
        await asyncio.wait_for(bucket.in_progress.wait(), GUARD_S)

        with pytest.raises(BusyError) as busy:
            await build_calendar(envelope, delivery(message_id="m-2"), leased)
        bucket.release()
        await asyncio.wait_for(first, GUARD_S)

        assert busy.value.retry_after_s > 0
        assert [event.type for event in await history(leased, envelope)] == [
            "CalendarStarted",
            "CalendarReady",
        ]
        # asked again once the first is done, the duplicate finds the job finished
        await build_calendar(envelope, delivery(message_id="m-2", receive_count=2), leased)
        await assert_one_file_for_its_outcome(leased, envelope, bucket)

    async def test_a_render_whose_worker_died_is_taken_over_once_its_lease_runs_out(
        self, leased: WorkerPorts, bucket: WatchedBucket, worker_store: EventStore
    ) -> None:
        # no stall outlasts it: the lease runs out only when the test makes it
        held = dataclasses.replace(leased, lease=timedelta(minutes=10))
        envelope = request()
        bucket.holding = True
        died = asyncio.create_task(build_calendar(envelope, delivery(message_id="m-1"), held))
        await asyncio.wait_for(bucket.in_progress.wait(), GUARD_S)
        # the worker dies mid-render: its lease is neither renewed nor released
        died.cancel()
        await asyncio.gather(died, return_exceptions=True)
        bucket.release()
        duplicate = delivery(message_id="m-2", receive_count=2)
        with pytest.raises(BusyError):
            await build_calendar(envelope, duplicate, held)

        await run_out_the_lease(worker_store, envelope)
        await build_calendar(envelope, duplicate, held)

        await assert_one_file_for_its_outcome(held, envelope, bucket)
        events = await history(held, envelope)
        assert {event.type for event in events[:-1]} == {"CalendarStarted"}


class TestPublishing:
    async def test_a_leased_renders_start_is_published_at_once_while_it_renders(
        self, leased: WorkerPorts, bucket: WatchedBucket, worker_store: EventStore
    ) -> None:
        # the relay as the services run it, polling only every 60 s: only a nudge sends at once
        bus = InMemoryBus()
        lease = RelayLease(worker_store)
        relay = OutboxRelay(
            SqlOutbox(worker_store, fence=lease.confirm), bus, lease=lease, poll_interval_s=60
        )
        worker_store.on_outbox_commit(relay.notify)
        assert await relay.publish_pending() == 0
        publishing = asyncio.create_task(relay.run())
        envelope = request()
        bucket.holding = True
        try:
            rendering = asyncio.create_task(build_calendar(envelope, delivery(), leased))
            await asyncio.wait_for(bucket.in_progress.wait(), GUARD_S)

            async def start_sent() -> bool:
                return [message.type for message in bus.sent] == ["CalendarStarted"]

            await eventually(start_sent, timeout_s=GUARD_S / 2)
            bucket.release()
            await asyncio.wait_for(rendering, GUARD_S)
        finally:
            relay.stop()
            await asyncio.wait_for(publishing, GUARD_S)

        assert bucket.stored == 1


class TestFailures:
    async def test_a_failure_is_raised_for_a_retry_until_the_last_attempt_then_recorded(
        self, either: WorkerPorts, s3: Any, module_topology: Settings
    ) -> None:
        # S3 answers, but refuses the work: a bucket that does not exist (NoSuchBucket)
        gone = Names(module_topology.resource_prefix).bucket + "-gone"
        failing = dataclasses.replace(either, blobs=S3BlobStore(s3, gone))
        envelope = request()

        with pytest.raises(Exception, match="NoSuchBucket"):
            await build_calendar(envelope, delivery(receive_count=1), failing)
        await build_calendar(envelope, delivery(receive_count=3), failing)

        events = await history(either, envelope)
        assert [event.type for event in events if event.type != "CalendarStarted"] == [
            "CalendarFailed"
        ]
        failed = events[-1].data
        assert isinstance(failed, CalendarFailed)
        # the client is told a short reason; the exception, which names the bucket, is logged
        assert failed.reason == "the calendar could not be built"
        assert gone not in failed.reason

    async def test_an_outage_is_never_recorded_as_a_failure_even_on_the_last_attempt(
        self, either: WorkerPorts, bucket: WatchedBucket, module_topology: Settings
    ) -> None:
        envelope = request()
        assert module_topology.aws_endpoint_url is not None
        with FaultProxy(*target_of(module_topology.aws_endpoint_url)) as proxy:
            away = module_topology.model_copy(
                update={"aws_endpoint_url": proxied_url(module_topology.aws_endpoint_url, proxy)}
            )
            proxy.block()
            async with aws_client(away, "s3") as unreachable:
                cut_off = dataclasses.replace(either, blobs=S3BlobStore(unreachable, bucket.bucket))
                with pytest.raises(BotoCoreError) as outage:
                    await build_calendar(envelope, delivery(receive_count=3), cut_off)

        assert "CalendarFailed" not in [e.type for e in await history(either, envelope)]
        assert is_outage(outage.value)
        # held and tried again in place once S3 answers: one outcome, one file
        await build_calendar(envelope, delivery(receive_count=3), either)
        await assert_one_file_for_its_outcome(either, envelope, bucket)
