"""The services' consumer on the embedded transport when SQS refuses a heartbeat because the
message's visibility timeout has run out (MessageNotInflight): it keeps going. And a failed
message waits at least a second before it is received again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded.transport.clients import provision_embedded
from shared.contracts.envelope import Envelope
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.consumer import ConsumerOptions, Delivery, SqsConsumer
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.consumer import good_event
from tests.support.polling import eventually

VISIBILITY_S = 3


class RefusalsSeen:
    """The embedded SQS client, passed through, noting each visibility change it refuses."""

    def __init__(self, sqs: Any) -> None:
        self.inner = sqs
        self.codes: list[str] = []
        # every visibility timeout asked for, in order
        self.timeouts: list[int] = []
        self.refused = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def change_message_visibility(self, **request: Any) -> dict[str, Any]:
        self.timeouts.append(request["VisibilityTimeout"])
        try:
            return await self.inner.change_message_visibility(**request)  # type: ignore[no-any-return]
        except ClientError as exc:
            self.codes.append(str(exc.response["Error"]["Code"]))
            self.refused.set()
            raise


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    settings = Settings(transport="embedded", var_dir=tmp_path, resource_prefix="heartbeat-")
    await provision_embedded(settings)
    return settings


@pytest.fixture
async def sqs(settings: Settings) -> AsyncIterator[RefusalsSeen]:
    async with transport_client(settings, "sqs") as client:
        yield RefusalsSeen(client)


async def test_a_heartbeat_refused_as_not_in_flight_does_not_stop_the_consumer(
    settings: Settings, sqs: RefusalsSeen
) -> None:
    queue = Names(settings.resource_prefix).queue(JOB_TRACKER)
    url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
    handled: list[str] = []

    async def handle(envelope: Envelope, delivery: Delivery) -> None:
        if not handled:
            # the visibility runs out under the handler (as after a long stall of the loop):
            # the heartbeat that follows is refused
            await sqs.inner.change_message_visibility(
                QueueUrl=url, ReceiptHandle=delivery.receipt_handle, VisibilityTimeout=0
            )
            await sqs.refused.wait()
        handled.append(delivery.receipt_handle)

    options = ConsumerOptions(
        name="heartbeat", wait_time_s=1, visibility_timeout_s=VISIBILITY_S, concurrency=1
    )
    consumer = SqsConsumer(sqs, queue, handle, options)
    entry = {"Id": "0", "MessageBody": good_event().to_json()}
    await sqs.send_message_batch(QueueUrl=url, Entries=[entry])
    running = asyncio.create_task(consumer.run())

    async def queue_empty() -> bool:
        found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        return all(found["Attributes"][name] == "0" for name in counts)

    try:
        await eventually(lambda: _done(sqs, handled), timeout_s=15)
        await eventually(queue_empty, timeout_s=15)
    finally:
        consumer.stop()
        await consumer.drain(5)
        await running

    assert sqs.codes[0] == "AWS.SimpleQueueService.MessageNotInflight"
    assert consumer.handled >= 1
    assert consumer.failed == 0


async def _done(sqs: RefusalsSeen, handled: list[str]) -> bool:
    return sqs.refused.is_set() and bool(handled)


async def test_a_failed_message_waits_at_least_a_second_before_its_next_receive(
    settings: Settings, sqs: RefusalsSeen
) -> None:
    queue = Names(settings.resource_prefix).queue(JOB_TRACKER)
    url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
    failed = asyncio.Event()

    async def handle(envelope: Envelope, delivery: Delivery) -> None:
        failed.set()
        raise RuntimeError("a handler's bug")

    options = ConsumerOptions(
        name="retry", wait_time_s=1, visibility_timeout_s=VISIBILITY_S, concurrency=1
    )
    consumer = SqsConsumer(sqs, queue, handle, options)
    entry = {"Id": "0", "MessageBody": good_event().to_json()}
    await sqs.send_message_batch(QueueUrl=url, Entries=[entry])
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(failed.wait(), 15)
        await eventually(lambda: _asked(sqs), timeout_s=15)
    finally:
        consumer.stop()
        await consumer.drain(5)
        await running

    # the first retry's delay is drawn from [0.5, 1] s: SQS counts whole seconds, so it is
    # rounded up; rounded down it was 0, and the message came straight back
    assert sqs.timeouts[0] == 1


async def _asked(sqs: RefusalsSeen) -> bool:
    return bool(sqs.timeouts)
