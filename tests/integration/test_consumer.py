"""The SQS consumer against moto: poison messages dead-letter, good ones keep flowing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy.exc import OperationalError

from shared.aws import REQUESTS, aws_client
from shared.bootstrap import Deployed, bootstrap
from shared.consumer import BusyError, ConsumerOptions, Delivery, SqsConsumer
from shared.envelope import Envelope, wrap
from shared.events import CalendarStarted
from shared.settings import Settings
from shared.topology import JOB_TRACKER, Names
from tests.polling import eventually

VISIBILITY_S = 2
MAX_RECEIVES = 2


@pytest.fixture
async def deployed(aws_settings: Settings) -> Deployed:
    settings = aws_settings.model_copy(
        update={"sqs_visibility_timeout_s": VISIBILITY_S, "sqs_max_receive_count": MAX_RECEIVES}
    )
    return await bootstrap(settings)


@pytest.fixture
async def sqs(aws_settings: Settings) -> AsyncIterator[Any]:
    async with aws_client(aws_settings, "sqs") as client:
        yield client


def good_event() -> Envelope:
    return wrap(CalendarStarted(task_id=uuid4(), attempt=1), stream_id="render-x", stream_version=1)


def consumer_for(
    sqs: Any, settings: Settings, handle: Callable[[Envelope, Delivery], Awaitable[None]]
) -> SqsConsumer:
    options = ConsumerOptions(
        name="test",
        wait_time_s=1,
        visibility_timeout_s=VISIBILITY_S,
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


class TestPoisonMessages:
    async def test_unreadable_messages_are_dead_lettered_while_good_ones_are_handled(
        self,
        deployed: Deployed,
        sqs: Any,
        aws_settings: Settings,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        url = deployed.queue_urls[JOB_TRACKER.name]
        valid = good_event()
        invalid_payload = json.loads(valid.to_json())
        invalid_payload["data"]["attempt"] = "first"
        poison = [
            "this is not JSON",
            json.dumps({**json.loads(valid.to_json()), "type": "Nonsense"}),
            json.dumps(invalid_payload),
        ]
        for body in [poison[0], valid.to_json(), *poison[1:]]:
            await sqs.send_message(QueueUrl=url, MessageBody=body)
        handled: list[Envelope] = []

        async def handle(envelope: Envelope, _delivery: Delivery) -> None:
            handled.append(envelope)

        consumer = consumer_for(sqs, aws_settings, handle)
        dead: list[str] = []

        async def all_dead_lettered() -> bool:
            dead.extend(await dlq_bodies(sqs, aws_settings))
            return len(dead) >= len(poison)

        await run_for(consumer, all_dead_lettered, limit_s=30)

        assert sorted(dead) == sorted(poison)
        assert handled == [valid]
        assert consumer.handled == 1
        assert consumer.poisoned >= len(poison)
        # each dead letter is logged once, naming its message id
        logged = [r.getMessage() for r in caplog.records if "unreadable message" in r.getMessage()]
        assert len(logged) == len(poison)
        assert len({line.split()[3] for line in logged}) == len(poison)


class TestRetries:
    async def test_a_failing_handler_is_retried_through_visibility_and_then_succeeds(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        await sqs.send_message(
            QueueUrl=deployed.queue_urls[JOB_TRACKER.name], MessageBody=good_event().to_json()
        )
        attempts: list[int] = []

        async def flaky(_envelope: Envelope, delivery: Delivery) -> None:
            attempts.append(delivery.receive_count)
            if len(attempts) == 1:
                raise RuntimeError("a bug that the next attempt does not meet")

        consumer = consumer_for(sqs, aws_settings, flaky)

        async def handled() -> bool:
            return consumer.handled == 1

        await run_for(consumer, handled, limit_s=20)

        assert attempts == [1, 2]
        assert await dlq_bodies(sqs, aws_settings) == []


class TestOutages:
    async def test_an_outage_longer_than_every_receive_together_dead_letters_nothing(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        url = deployed.queue_urls[JOB_TRACKER.name]
        for _ in range(3):
            await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        # the redrive policy allows MAX_RECEIVES receives of VISIBILITY_S each: outlast them all
        outage_ends = asyncio.get_running_loop().time() + VISIBILITY_S * MAX_RECEIVES * 3
        receive_counts: list[int] = []

        async def database_down_for_a_while(_envelope: Envelope, delivery: Delivery) -> None:
            receive_counts.append(delivery.receive_count)
            if asyncio.get_running_loop().time() < outage_ends:
                raise OperationalError("SELECT 1", {}, ConnectionRefusedError())

        consumer = consumer_for(sqs, aws_settings, database_down_for_a_while)

        async def all_handled() -> bool:
            return consumer.handled == 3

        await run_for(consumer, all_handled, limit_s=40)

        assert set(receive_counts) == {1}
        assert consumer.failed == 0
        assert await dlq_bodies(sqs, aws_settings) == []

    async def test_nothing_new_is_received_while_a_message_is_held_by_an_outage(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        url = deployed.queue_urls[JOB_TRACKER.name]
        await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        outage = asyncio.Event()
        seen: list[str] = []

        async def outage_until_told(_envelope: Envelope, delivery: Delivery) -> None:
            seen.append(delivery.message_id)
            if not outage.is_set():
                raise ConnectionRefusedError("database refused")

        consumer = consumer_for(sqs, aws_settings, outage_until_told)
        task = asyncio.create_task(consumer.run())
        await eventually(lambda: _true_if(len(seen) >= 2), 10, interval_s=0.1)
        # a long poll already under way when the outage began may still return; let it end
        await asyncio.sleep(1.5)
        await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        await asyncio.sleep(2)
        held_ids = set(seen)
        outage.set()
        try:
            await eventually(lambda: _true_if(consumer.handled == 2), 20, interval_s=0.2)
        finally:
            consumer.stop()
            await consumer.drain(5)
            await task

        assert len(held_ids) == 1, "a second message was received during the outage"
        assert consumer.held == 1

    async def test_a_busy_job_is_asked_again_in_place_without_a_new_receive(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        await sqs.send_message(
            QueueUrl=deployed.queue_urls[JOB_TRACKER.name], MessageBody=good_event().to_json()
        )
        receive_counts: list[int] = []

        async def busy_twice(_envelope: Envelope, delivery: Delivery) -> None:
            receive_counts.append(delivery.receive_count)
            if len(receive_counts) <= 2:
                raise BusyError("rendering elsewhere", retry_after_s=0.2)

        consumer = consumer_for(sqs, aws_settings, busy_twice)
        await run_for(consumer, lambda: _true_if(consumer.handled == 1), limit_s=20)

        assert receive_counts == [1, 1, 1]
        assert consumer.held == 0


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
        await eventually(lambda: _true_if(len(running) == 4), 10, interval_s=0.1)
        await asyncio.sleep(1.5)
        attributes = await sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        release.set()
        try:
            await eventually(lambda: _true_if(consumer.handled == 6), 20, interval_s=0.2)
        finally:
            consumer.stop()
            await consumer.drain(5)
            await task

        # four slots: four in hand, the other two still waiting in the queue for anyone
        assert len(running) >= 4
        assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 2


async def _true_if(condition: bool) -> bool:
    return condition


class TestLongHandlers:
    async def test_a_handler_longer_than_the_visibility_timeout_is_not_run_twice(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        await sqs.send_message(
            QueueUrl=deployed.queue_urls[JOB_TRACKER.name], MessageBody=good_event().to_json()
        )
        calls: list[str] = []

        async def slow(_envelope: Envelope, delivery: Delivery) -> None:
            calls.append(delivery.message_id)
            await asyncio.sleep(VISIBILITY_S * 2.5)

        consumer = consumer_for(sqs, aws_settings, slow)

        async def handled() -> bool:
            return consumer.handled == 1

        await run_for(consumer, handled, limit_s=20)

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
        await run_for(consumer, lambda: _true_if(consumer.handled == 4), limit_s=20)
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
    WINDOW_S = 1.5

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
            await eventually(lambda: handled_at_least(first_messages), 20, interval_s=0.05)
            await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
            await eventually(lambda: handled_at_least(first_messages + 1), 20, interval_s=0.05)
        finally:
            consumer.stop()
            await consumer.drain(5)
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
