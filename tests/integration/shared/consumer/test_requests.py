"""The SQS consumer against moto: how many requests it makes, deletes batched and receives
waiting for company."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from shared.aws.clients import REQUESTS
from shared.contracts.envelope import Envelope
from shared.contracts.topology import JOB_TRACKER
from shared.messaging.consumer import Delivery
from shared.messaging.provisioning import Deployed
from shared.settings import Settings
from tests.support.consumer import (
    consumer_for,
    good_event,
    run_for,
    true_if,
)
from tests.support.polling import eventually

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


class TestDeletes:
    async def test_handled_messages_are_deleted_in_batches(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        url = deployed.queue_urls[JOB_TRACKER.name]
        entries = [{"Id": str(n), "MessageBody": good_event().to_json()} for n in range(4)]
        await sqs.send_message_batch(QueueUrl=url, Entries=entries)
        before = REQUESTS.copy()

        async def handle(_envelope: Envelope, _delivery: Delivery) -> None:
            return None

        consumer = consumer_for(sqs, aws_settings, handle)
        await run_for(consumer, lambda: true_if(consumer.handled == 4), limit_s=20)
        sent = REQUESTS - before
        attributes = await sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )

        assert sent["sqs.DeleteMessage"] == 0
        assert 1 <= sent["sqs.DeleteMessageBatch"] < 4
        assert set(attributes["Attributes"].values()) == {"0"}


class ReceiveLog:
    """An SQS client that remembers when each receive began and ended and what it brought."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.receives: list[tuple[float, float, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    async def receive_message(self, **request: Any) -> dict[str, Any]:
        began = time.monotonic()
        answer: dict[str, Any] = await self._sqs.receive_message(**request)
        self.receives.append((began, time.monotonic(), len(answer.get("Messages", []))))
        return answer


class TestBatchWindow:
    # long enough that half of it tells "at once" from "after the window" on a stalled host
    WINDOW_S = 15.0

    async def _receives_after(
        self, deployed: Deployed, sqs: Any, settings: Settings, first_messages: int
    ) -> list[tuple[float, float, int]]:
        """Send `first_messages`, then one more once they are handled; the receives made."""
        url = deployed.queue_urls[JOB_TRACKER.name]
        for _ in range(first_messages):
            await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        handled: list[Envelope] = []

        async def handle(envelope: Envelope, _delivery: Delivery) -> None:
            handled.append(envelope)

        log = ReceiveLog(sqs)
        consumer = consumer_for(log, settings, handle)
        consumer.options = dataclasses.replace(consumer.options, batch_window_s=self.WINDOW_S)

        async def handled_at_least(count: int) -> bool:
            return len(handled) >= count

        task = asyncio.create_task(consumer.run())
        try:
            # SQS may hand out the first ones over more than one receive, the window between
            limit_s = self.WINDOW_S + 30
            await eventually(lambda: handled_at_least(first_messages), limit_s, interval_s=0.05)
            await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
            await eventually(lambda: handled_at_least(first_messages + 1), limit_s, interval_s=0.05)
        finally:
            consumer.stop()
            await consumer.drain(30)
            await task
        return log.receives

    @staticmethod
    def _first_and_gap(receives: list[tuple[float, float, int]]) -> tuple[int, float]:
        """How many messages the first fruitful receive brought; the pause until the next."""
        first = next(index for index, (_, _, count) in enumerate(receives) if count)
        return receives[first][2], receives[first + 1][0] - receives[first][1]

    async def test_a_receive_of_several_messages_waits_the_window_before_the_next(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        receives = await self._receives_after(deployed, sqs, aws_settings, first_messages=3)

        brought, pause_s = self._first_and_gap(receives)
        # SQS may hand out the three in more than one receive; any two or more bring the window
        assert brought >= 2
        assert pause_s >= self.WINDOW_S * 0.9

    async def test_a_lone_message_never_delays_the_next_receive(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        receives = await self._receives_after(deployed, sqs, aws_settings, first_messages=1)

        brought, pause_s = self._first_and_gap(receives)
        assert brought == 1
        assert pause_s < self.WINDOW_S / 2
