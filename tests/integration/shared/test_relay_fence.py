"""The relay lease is a fence, on PostgreSQL with SNS on the wire (moto behind a loopback proxy
that can hold a publish's answer): the lease is renewed while a publish waits, a live relay gives
a publish up before its lease could run out, and a relay whose publish outlived its lease anyway
deletes nothing and publishes nothing more once another relay holds the outbox."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.contracts.topology import Names
from shared.eventstore import leases
from shared.eventstore.store import EventStore
from shared.messaging.outbox import SqlOutbox
from shared.messaging.provisioning import bootstrap
from shared.messaging.publisher import SnsPublisher, resolve_topic_arn
from shared.messaging.relay import OutboxRelay
from shared.messaging.relay_lease import LEASE_NAME, RelayLease
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.faults import FaultProxy, proxied_url, target_of
from tests.support.polling import eventually
from tests.support.stores import deleted, make_store

# a held publish is waited for this long at most: far beyond any publish limit used here
GUARD_S = 20.0
PUBLISH_ACTIONS = {"Publish", "PublishBatch"}


class HeldSns:
    """SNS on loopback in front of moto. Every request reaches moto; while `holding`, the answer
    to a publish waits until `release()`, as a slow or stalled answer from SNS would."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.holding = False
        self.publishes = 0
        self.held = asyncio.Event()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._session = aiohttp.ClientSession()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    def release(self) -> None:
        self.holding = False
        self._released.set()

    async def close(self) -> None:
        self.release()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        skip = {"host", "content-length", "transfer-encoding"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        async with self._session.request(
            request.method, self.target + request.path_qs, data=body, headers=headers
        ) as upstream:
            answer, status = await upstream.read(), upstream.status
            content_type = upstream.headers.get("Content-Type", "text/xml")
        if _action(request, body) in PUBLISH_ACTIONS:
            self.publishes += 1
            if self.holding:
                self.held.set()
                await self._released.wait()
        return web.Response(body=answer, status=status, headers={"Content-Type": content_type})


def _action(request: web.Request, body: bytes) -> str:
    """The SNS action of a request, in the query protocol or the JSON one."""
    target = request.headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    return parse_qs(body.decode(errors="replace")).get("Action", [""])[0]


@dataclass
class Wire:
    settings: Settings
    sns_proxy: HeldSns
    # SNS through the proxy, and straight to moto
    held_sns: Any
    sns: Any
    sqs: Any
    audit_url: str

    async def published(self) -> Counter[str]:
        """How many times each event id reached the topic (read off an unfiltered queue)."""
        seen: Counter[str] = Counter()
        while True:
            answer = await self.sqs.receive_message(
                QueueUrl=self.audit_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            messages = answer.get("Messages", [])
            if not messages:
                return seen
            seen.update(str(Envelope.from_json(m["Body"]).event_id) for m in messages)
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ]
            await self.sqs.delete_message_batch(QueueUrl=self.audit_url, Entries=entries)

    def publisher(self, *, held: bool) -> SnsPublisher:
        topic = Names(self.settings.resource_prefix).topic
        return SnsPublisher(self.held_sns if held else self.sns, topic)


@pytest.fixture
async def wire(aws_settings: Settings) -> AsyncIterator[Wire]:
    await bootstrap(aws_settings)
    assert aws_settings.aws_endpoint_url is not None
    proxy = HeldSns(aws_settings.aws_endpoint_url)
    held_settings = aws_settings.model_copy(update={"aws_endpoint_url": await proxy.start()})
    async with AsyncExitStack() as stack:
        stack.push_async_callback(proxy.close)
        held_sns = await stack.enter_async_context(transport_client(held_settings, "sns"))
        sns = await stack.enter_async_context(transport_client(aws_settings, "sns"))
        sqs = await stack.enter_async_context(transport_client(aws_settings, "sqs"))
        audit_url = await _audit_queue(aws_settings, sns, sqs)
        yield Wire(aws_settings, proxy, held_sns, sns, sqs, audit_url)


async def _audit_queue(settings: Settings, sns: Any, sqs: Any) -> str:
    """A queue subscribed to every event of the topic, unfiltered, with raw delivery."""
    topic_arn = await resolve_topic_arn(sns, Names(settings.resource_prefix).topic)
    url = (await sqs.create_queue(QueueName=f"{settings.resource_prefix}audit"))["QueueUrl"]
    attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    await sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=attributes["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    return str(url)


@pytest.fixture
async def store(postgres_schema: str) -> AsyncIterator[EventStore]:
    store = await make_store(Settings(database_url=POSTGRES_URL, database_schema=postgres_schema))
    yield store
    await store.engine.dispose()


async def append(store: EventStore, count: int) -> list[str]:
    """`count` events on streams of their own, queued to publish; their event ids."""
    ids: list[str] = []
    for todo_id in range(1, count + 1):
        async with store.transaction() as conn:
            stored = await store.append(
                conn, todo_stream_id(todo_id), 0, [deleted(todo_id)], origin=ANONYMOUS_ORIGIN
            )
        ids.extend(str(envelope.event_id) for envelope in stored)
    return ids


def fenced_relay(store: EventStore, lease: RelayLease, publisher: SnsPublisher) -> OutboxRelay:
    """A relay wired as the services wire it (shared/app/resources.py)."""
    outbox = SqlOutbox(store, fence=lease.confirm)
    return OutboxRelay(outbox, publisher, lease=lease, poll_interval_s=1)


async def lease_expiry(store: EventStore) -> datetime | None:
    async with store.transaction() as conn:
        return await leases.expires_at(conn, store.tables.relay_lease, LEASE_NAME)


async def finished(task: asyncio.Task[Any]) -> bool:
    """Whether the task ended within GUARD_S."""
    done, _ = await asyncio.wait({task}, timeout=GUARD_S)
    return bool(done)


async def test_the_lease_is_renewed_while_a_publish_waits_for_sns(
    store: EventStore, wire: Wire
) -> None:
    # renewed a third into its 30 s, 10 s after the publish began; given up at 15 s: the
    # renewal is looked for until 14 s, room for a loop that runs late on a busy machine
    lease = RelayLease(store, ttl_s=30.0)
    relay = fenced_relay(store, lease, wire.publisher(held=True))
    ids = await append(store, 3)
    wire.sns_proxy.holding = True

    publishing = asyncio.create_task(relay.publish_pending())
    await asyncio.wait_for(wire.sns_proxy.held.wait(), GUARD_S)
    claimed_until = await lease_expiry(store)
    assert claimed_until is not None

    async def renewed() -> bool:
        expiry = await lease_expiry(store)
        return expiry is not None and expiry > claimed_until

    await eventually(renewed, timeout_s=14.0, interval_s=0.05)
    wire.sns_proxy.release()

    assert await finished(publishing)
    assert publishing.result() == 3
    assert await SqlOutbox(store).backlog() == 0
    assert await wire.published() == Counter(ids)


async def test_a_publish_sns_does_not_answer_is_given_up_while_the_lease_is_still_held(
    store: EventStore, wire: Wire
) -> None:
    # given up after 6 s, while the lease, renewed every 4 s, has 8 s or more left: room for
    # a stalled host between the give-up and the look at the lease
    lease = RelayLease(store, ttl_s=12.0)
    relay = fenced_relay(store, lease, wire.publisher(held=True))
    ids = await append(store, 3)
    wire.sns_proxy.holding = True

    publishing = asyncio.create_task(relay.publish_pending())

    assert await finished(publishing), "the publish still waits for SNS"
    with pytest.raises(TimeoutError):
        publishing.result()
    # given up within the lease: no other relay could have taken the outbox meanwhile
    expiry = await lease_expiry(store)
    assert expiry is not None
    assert expiry > utcnow()
    assert await SqlOutbox(store).backlog() == 3
    # SNS comes back: the same events go out again, nothing is lost
    wire.sns_proxy.release()
    assert await relay.publish_pending() == 3
    assert await SqlOutbox(store).backlog() == 0
    published = await wire.published()
    assert set(published) == set(ids)
    assert max(published.values()) <= 2


async def test_a_relay_whose_publish_outlived_its_lease_deletes_nothing_and_publishes_no_more(
    postgres_schema: str, store: EventStore, wire: Wire
) -> None:
    # the old holder reaches the database through a proxy that can cut it off, so its lease
    # runs out while its publish waits; its limit is set beyond the lease, as a paused
    # process's is (its timer cannot fire while it is stopped)
    with FaultProxy(*target_of(POSTGRES_URL)) as database:
        cut_off = Settings(
            database_url=proxied_url(POSTGRES_URL, database), database_schema=postgres_schema
        )
        old_store = await make_store(cut_off)
        try:
            old_lease = RelayLease(old_store, ttl_s=1.0, publish_limit_s=GUARD_S)
            old = fenced_relay(old_store, old_lease, wire.publisher(held=True))
            new_lease = RelayLease(store, ttl_s=1.0)
            new = fenced_relay(store, new_lease, wire.publisher(held=False))
            # two batches of ten: the old holder sends the first and is held there
            ids = await append(store, 15)
            wire.sns_proxy.holding = True
            publishing = asyncio.create_task(old.publish_pending())
            await asyncio.wait_for(wire.sns_proxy.held.wait(), GUARD_S)

            database.stall()
            await eventually(new_lease.hold, timeout_s=GUARD_S)
            database.unblock()
            wire.sns_proxy.release()

            assert await finished(publishing)
            assert publishing.result() == 0
            assert wire.sns_proxy.publishes == 1, "the old holder went on to its next batch"
            assert not old_lease.held
            # nothing deleted: the new holder publishes every row itself
            assert await SqlOutbox(store).backlog() == 15
            assert await new.publish_pending() == 15
            assert await SqlOutbox(store).backlog() == 0
            assert await old.publish_pending() == 0
        finally:
            await old_store.engine.dispose()

    # no event lost; the old holder's one batch went out twice, nothing else did
    published = await wire.published()
    assert set(published) == set(ids)
    assert sorted(published.values()) == [1] * 5 + [2] * 10


def test_a_publish_is_bounded_well_inside_the_lease() -> None:
    lease = RelayLease(store=None, ttl_s=10.0)  # type: ignore[arg-type]

    # a publish starts with at least two thirds of the lease left (hold() renews it a third in)
    assert lease.publish_limit_s <= 10.0 * 2 / 3 - 1.0
