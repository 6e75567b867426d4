"""What the consumer tests share: a consumer on the job tracker's queue, its DLQ, a bounded run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CalendarStarted
from shared.contracts.streams import render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.consumer import ConsumerOptions, Delivery, SqsConsumer
from shared.settings import Settings
from tests.support.polling import eventually

# a held message is renewed every third of this: a stalled host loses seconds, not the message;
# failed messages come back sooner anyway (the consumer's retry delay, 1 s then 2 s)
VISIBILITY_S = 12
MAX_RECEIVES = 2


def good_event() -> Envelope:
    task_id = uuid4()
    return wrap(
        CalendarStarted(task_id=task_id, attempt=1),
        stream_id=render_stream_id(task_id),
        stream_version=1,
        origin=ANONYMOUS_ORIGIN,
    )


def consumer_for(
    sqs: Any,
    settings: Settings,
    handle: Callable[[Envelope, Delivery], Awaitable[None]],
    visibility_timeout_s: int = VISIBILITY_S,
) -> SqsConsumer:
    options = ConsumerOptions(
        name="test",
        wait_time_s=1,
        visibility_timeout_s=visibility_timeout_s,
        max_receive_count=MAX_RECEIVES,
        concurrency=4,
        outage_backoff_max_s=1.0,
    )
    return SqsConsumer(sqs, Names(settings.resource_prefix).queue(JOB_TRACKER), handle, options)


async def dlq_bodies(sqs: Any, settings: Settings) -> list[str]:
    url = (await sqs.get_queue_url(QueueName=Names(settings.resource_prefix).dlq(JOB_TRACKER)))[
        "QueueUrl"
    ]
    bodies: list[str] = []
    for _ in range(5):
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        bodies += [message["Body"] for message in response.get("Messages", [])]
    return bodies


async def run_for(
    consumer: SqsConsumer, until: Callable[[], Awaitable[bool]], limit_s: float
) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(until, limit_s, interval_s=0.2)
    finally:
        consumer.stop()
        await consumer.drain(5)
        await task


async def true_if(condition: bool) -> bool:
    """A condition already known, as the awaitable `eventually` polls."""
    return condition
