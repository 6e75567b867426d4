"""The SQS consumer against moto: as many messages in hand as it has slots, a long handler run
once, and a shutdown that finishes what it holds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.contracts.envelope import Envelope
from shared.contracts.topology import JOB_TRACKER
from shared.messaging.consumer import Delivery
from shared.messaging.provisioning import Deployed
from shared.settings import Settings
from tests.support.consumer import (
    VISIBILITY_S,
    consumer_for,
    good_event,
    run_for,
    true_if,
)
from tests.support.polling import eventually

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


class TestSlots:
    async def test_a_consumer_receives_no_more_messages_than_it_has_free_slots(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        url = deployed.queue_urls[JOB_TRACKER.name]
        for _ in range(6):
            await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        release = asyncio.Event()
        running: list[str] = []

        async def wait_for_release(_envelope: Envelope, delivery: Delivery) -> None:
            running.append(delivery.message_id)
            await release.wait()

        consumer = consumer_for(sqs, aws_settings, wait_for_release)
        task = asyncio.create_task(consumer.run())
        await eventually(lambda: true_if(len(running) == 4), 10, interval_s=0.1)
        await asyncio.sleep(1.5)
        attributes = await sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        release.set()
        try:
            await eventually(lambda: true_if(consumer.handled == 6), 20, interval_s=0.2)
        finally:
            consumer.stop()
            await consumer.drain(5)
            await task

        # four slots: four in hand, the other two still waiting in the queue for anyone
        assert len(running) >= 4
        assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 2


class Renewals:
    """An SQS client that counts the visibility renewals made through it."""

    def __init__(self, sqs: Any, wanted: int) -> None:
        self._sqs = sqs
        self.wanted = wanted
        self.count = 0
        self.enough = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    async def change_message_visibility(self, **request: Any) -> Any:
        answer = await self._sqs.change_message_visibility(**request)
        if request["VisibilityTimeout"] == VISIBILITY_S:
            self.count += 1
            if self.count >= self.wanted:
                self.enough.set()
        return answer


class TestLongHandlers:
    async def test_a_handler_longer_than_the_visibility_timeout_is_not_run_twice(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        await sqs.send_message(
            QueueUrl=deployed.queue_urls[JOB_TRACKER.name], MessageBody=good_event().to_json()
        )
        calls: list[str] = []
        # renewed every third of the timeout: the fourth renewal comes a third of a timeout
        # after the message would have shown again without them
        renewals = Renewals(sqs, wanted=4)

        async def slow(_envelope: Envelope, delivery: Delivery) -> None:
            calls.append(delivery.message_id)
            await asyncio.wait_for(renewals.enough.wait(), VISIBILITY_S * 3)

        consumer = consumer_for(renewals, aws_settings, slow)

        async def handled() -> bool:
            return consumer.handled >= 1

        await run_for(consumer, handled, limit_s=VISIBILITY_S * 4)

        assert renewals.count >= 4
        assert len(calls) == 1


class TestShutdown:
    async def test_stop_lets_the_message_in_hand_finish_and_takes_no_new_one(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        url = deployed.queue_urls[JOB_TRACKER.name]
        await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        started, finished = asyncio.Event(), asyncio.Event()

        async def slow(_envelope: Envelope, _delivery: Delivery) -> None:
            started.set()
            await asyncio.sleep(1)
            finished.set()

        consumer = consumer_for(sqs, aws_settings, slow)
        task = asyncio.create_task(consumer.run())
        await asyncio.wait_for(started.wait(), 10)
        consumer.stop()
        await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        await consumer.drain(5)
        await asyncio.wait_for(task, 5)

        assert finished.is_set()
        assert consumer.handled == 1
