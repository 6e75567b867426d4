"""The SQS consumer against moto when handling fails: poison dead-letters, retries back off,
outages hold the message without using up its receives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from shared.contracts.envelope import Envelope
from shared.contracts.topology import JOB_TRACKER
from shared.messaging.consumer import BusyError, Delivery
from shared.messaging.provisioning import Deployed
from shared.settings import Settings
from tests.support.consumer import (
    consumer_for,
    dlq_bodies,
    good_event,
    run_for,
    true_if,
)
from tests.support.polling import eventually

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

OUTAGE_S = 12


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

    async def test_a_renewal_under_way_when_the_handler_fails_lands_before_the_retry_delay(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        """Else the renewal undoes the retry: a whole timeout instead of a second."""
        await sqs.send_message(
            QueueUrl=deployed.queue_urls[JOB_TRACKER.name], MessageBody=good_event().to_json()
        )
        gated = GatedRenewals(sqs, RENEWED_S)
        attempts: list[int] = []

        async def fails_during_a_renewal(_envelope: Envelope, delivery: Delivery) -> None:
            attempts.append(delivery.receive_count)
            if len(attempts) == 1:
                await gated.renewal_held.wait()
                gated.gate.set()
                raise RuntimeError("a bug that the next attempt does not meet")

        consumer = consumer_for(gated, aws_settings, fails_during_a_renewal, RENEWED_S)

        async def handled() -> bool:
            return consumer.handled == 1

        await run_for(consumer, handled, limit_s=20)
        await asyncio.wait(gated.sent)

        # the renewal, then the first retry's delay of a second: the message came back then
        assert gated.applied == [RENEWED_S, 1]
        assert attempts == [1, 2]


# a visibility timeout renewed every second, so a renewal comes soon
RENEWED_S = 3


class GatedRenewals:
    """The SQS client, but a renewal (the visibility set to `renewed_s`) is slow on the wire: it
    waits at a gate, then for any other visibility change sent meanwhile to reach SQS first. Once
    sent it arrives, whatever becomes of its sender (cancelling it does not call it back).
    `applied` lists each change SQS took, in order."""

    def __init__(self, sqs: Any, renewed_s: int) -> None:
        self._sqs = sqs
        self._renewed_s = renewed_s
        self.renewal_held = asyncio.Event()
        self.gate = asyncio.Event()
        self.applied: list[int] = []
        # every change sent; `_others`: those that are not renewals
        self.sent: set[asyncio.Future[Any]] = set()
        self._others: set[asyncio.Future[Any]] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    async def change_message_visibility(self, **request: Any) -> Any:
        seconds = request["VisibilityTimeout"]
        if seconds == self._renewed_s:
            self.renewal_held.set()
            renewal = asyncio.ensure_future(self._renew(request))
            self.sent.add(renewal)
            return await asyncio.shield(renewal)
        other = asyncio.ensure_future(self._apply(request))
        self.sent.add(other)
        self._others.add(other)
        return await other

    async def _renew(self, request: dict[str, Any]) -> Any:
        await self.gate.wait()
        if self._others:
            await asyncio.wait(self._others)
        return await self._apply(request)

    async def _apply(self, request: dict[str, Any]) -> Any:
        answer = await self._sqs.change_message_visibility(**request)
        self.applied.append(request["VisibilityTimeout"])
        return answer


class TestOutages:
    async def test_an_outage_longer_than_every_receive_together_dead_letters_nothing(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        url = deployed.queue_urls[JOB_TRACKER.name]
        for _ in range(3):
            await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        # a consumer that gave each failed receive back (seen again after 1 s, then 2 s) would
        # use up the MAX_RECEIVES receives and dead-letter the messages well within this
        outage_ends = asyncio.get_running_loop().time() + OUTAGE_S
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
        await eventually(lambda: true_if(len(seen) >= 2), 10, interval_s=0.1)
        # a long poll already under way when the outage began may still return; let it end
        await asyncio.sleep(1.5)
        await sqs.send_message(QueueUrl=url, MessageBody=good_event().to_json())
        await asyncio.sleep(2)
        held_ids = set(seen)
        outage.set()
        try:
            await eventually(lambda: true_if(consumer.handled == 2), 20, interval_s=0.2)
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
        await run_for(consumer, lambda: true_if(consumer.handled == 1), limit_s=20)

        assert receive_counts == [1, 1, 1]
        assert consumer.held == 0
