"""The SQS consumer loop every service uses: long-poll, decode, dispatch, delete on success."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.messaging.batching import MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES
from shared.messaging.dead_letters.failures import (
    failure_attributes,
    public_reason,
    sendable_attributes,
)
from shared.messaging.delete_batcher import DeleteBatcher
from shared.messaging.heartbeat import Heartbeat
from shared.observability import log_context
from shared.observability.metrics import ConsumerMetrics, Metrics
from shared.observability.tracing import consuming, record_failure
from shared.outages import is_outage
from shared.retry import backoff_delay, jittered
from shared.settings import DEFAULT_SERVICE_NAME

logger = logging.getLogger(__name__)
# the first pause of a message held through an outage, doubled after each try (up to the
# consumer's outage_backoff_max_s)
FIRST_OUTAGE_PAUSE_S = 0.25
# a message that failed is seen again after 1 s, doubled for each receive (up to the visibility
# timeout)
FIRST_RETRY_DELAY_S = 1.0
# a failed receive waits 0.75 to 1.5 s before the next
RECEIVE_RETRY_S = 1.5


@dataclass(frozen=True)
class Delivery:
    """What SQS says about one receipt of a message."""

    message_id: str
    receipt_handle: str
    receive_count: int
    max_receive_count: int

    @property
    def is_last_attempt(self) -> bool:
        return self.receive_count >= self.max_receive_count


@dataclass(frozen=True)
class ConsumerOptions:
    name: str
    wait_time_s: int = 10
    visibility_timeout_s: int = 30
    max_receive_count: int = 5
    concurrency: int = 10
    # the longest pause between two tries of a message held through an outage
    outage_backoff_max_s: float = 15.0
    # see shared/settings.py, batch_window_ms
    batch_window_s: float = 0.0
    # the service consuming: its spans and log lines name it
    service: str = DEFAULT_SERVICE_NAME
    # where the consumer moves a message it gives up on, with why (see dead_letters/failures.py);
    # empty: it leaves the message to the queue's redrive policy, which records no reason
    dead_letter_queue: str = ""


class PoisonMessageError(ValueError):
    """The body is not an event this system can read; only the redrive policy helps."""


class BusyError(Exception):
    """Someone else is working on this message's job: ask again later, it is no failure."""

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


Handle = Callable[[Envelope, Delivery], Awaitable[None]]


def decode(body: str) -> Envelope:
    # a message body above SNS/SQS's limit can only come from a misbehaving sender
    if len(body.encode()) > MAX_MESSAGE_BYTES:
        raise PoisonMessageError(f"body of {len(body)} characters is over the size limit")
    try:
        return Envelope.from_json(body)
    except ValidationError as exc:
        raise PoisonMessageError(str(exc.errors(include_url=False)[0]["msg"])) from None


class SqsConsumer:
    """Handles messages concurrently (bounded); a failed one stays for the redrive policy.

    A dependency outage (database, S3, SNS) is not the message's fault: the message in hand is
    kept invisible and tried again in place with capped backoff, so the outage uses up none of
    its receives, and no new message is received until the dependency answers again.
    """

    def __init__(
        self,
        sqs: Any,
        queue_name: str,
        handle: Handle,
        options: ConsumerOptions,
        *,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._sqs = sqs
        self.queue_name = queue_name
        # looked up on the first receive, so a service starts even while SQS is unreachable
        self.queue_url = ""
        self._handle = handle
        self.options = options
        self._in_flight: set[asyncio.Task[None]] = set()
        self._held_by_outage = 0
        self._changed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._deletes = DeleteBatcher(sqs, lambda: self.queue_url, options.name)
        self._receiving: asyncio.Task[list[dict[str, Any]]] | None = None
        self._dead_letter_url = ""
        self._stopping = False
        self._metrics = metrics or Metrics().consumer(options.name)
        self.handled = self.failed = self.poisoned = self.held = 0

    def __repr__(self) -> str:
        return (
            f"<SqsConsumer {self.options.name} handled={self.handled} failed={self.failed} "
            f"poisoned={self.poisoned} held={self.held} in_flight={len(self._in_flight)}>"
        )

    @property
    def free_slots(self) -> int:
        return self.options.concurrency - len(self._in_flight)

    async def run(self) -> None:
        """Receive and dispatch until stop() is called."""
        while not self._stopping:
            received = await self._receive_and_dispatch(self.options.wait_time_s)
            if 2 <= received < MAX_BATCH_ENTRIES and self.options.batch_window_s:
                # several messages but no full batch: traffic is steady, so the next receive
                # waits a moment and takes more of them instead of a request per message or two
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), self.options.batch_window_s)

    async def run_until_idle(self, wait_time_s: int = 1) -> None:
        """Work until a receive comes back empty with nothing in flight (for tests and tools)."""
        while True:
            received = await self._receive_and_dispatch(wait_time_s)
            if not received and not self._in_flight:
                await self._deletes.close()
                return
            if not received:
                await asyncio.wait(self._in_flight)

    def stop(self) -> None:
        """Take nothing new; in-flight messages finish (see drain)."""
        self._stopping = True
        self._changed.set()
        self._stop_requested.set()
        if self._receiving is not None:
            self._receiving.cancel()

    async def drain(self, timeout_s: float) -> None:
        """Wait for in-flight handlers (those still running after the timeout are released),
        then for the deletes of what they handled."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)
        for task in set(self._in_flight):
            task.cancel()
        await self._deletes.close()

    def outage_began(self) -> None:
        """A message in hand meets an outage: receive nothing new until it is over."""
        self._held_by_outage += 1
        self.held += 1

    def outage_ended(self) -> None:
        self._held_by_outage -= 1
        self._changed.set()

    async def _ready_to_receive(self) -> bool:
        """Wait for a free slot and the end of any outage; False once stopping."""
        while not self._stopping and (self.free_slots <= 0 or self._held_by_outage):
            self._changed.clear()
            await self._changed.wait()
        return not self._stopping

    async def _receive_and_dispatch(self, wait_time_s: int) -> int:
        if not await self._ready_to_receive():
            return 0
        try:
            # never more than the free slots: a received message waiting for a slot has no
            # heartbeat, so it would reappear to other consumers and burn a receive
            self._receiving = asyncio.create_task(self._receive(wait_time_s, self.free_slots))
            messages = await self._receiving
        except asyncio.CancelledError:
            if self._stopping:
                return 0
            raise
        except Exception as exc:
            logger.warning("%s: receive failed (%r); retrying", self.options.name, exc)
            # about a second, not a growing backoff: the next receive tests whether SQS is back
            await asyncio.sleep(jittered(RECEIVE_RETRY_S))
            return 0
        finally:
            self._receiving = None
        for message in messages:
            self._metrics.received_message(message.get("Attributes", {}).get("SentTimestamp"))
            self._metrics.in_flight.inc()
            task = asyncio.create_task(self._process(message))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(messages)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._metrics.in_flight.dec()
        self._changed.set()

    async def _receive(self, wait_time_s: int, max_messages: int) -> list[dict[str, Any]]:
        if not self.queue_url:
            found = await self._sqs.get_queue_url(QueueName=self.queue_name)
            self.queue_url = found["QueueUrl"]
        response = await self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(MAX_BATCH_ENTRIES, max_messages)),
            WaitTimeSeconds=wait_time_s,
            # SentTimestamp: how long the message waited in the queue (metrics)
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    async def _process(self, message: dict[str, Any]) -> None:
        delivery = self._delivery(message)
        # each message is handled in a task of its own: its log lines say which message it is
        log_context.bind(message_id=delivery.message_id)
        heartbeat = Heartbeat(
            functools.partial(self._set_visibility, delivery, self.options.visibility_timeout_s),
            interval_s=max(1.0, self.options.visibility_timeout_s / 3),
        )
        try:
            envelope = decode(message.get("Body", ""))
        except PoisonMessageError as exc:
            self.poisoned += 1
            self._metrics.failure(last_attempt=delivery.is_last_attempt)
            self._log_poison(delivery, exc)
            await heartbeat.stop()
            if not await self._dead_letter(message, delivery, public_reason(exc, unreadable=True)):
                await self._retry_later(delivery)
            return
        try:
            with consuming(self.options.service, self.options.name, envelope, delivery.message_id):
                await self._handle_until_settled(envelope, delivery, message, heartbeat)
        finally:
            heartbeat.cancel()

    async def _handle_until_settled(
        self, envelope: Envelope, delivery: Delivery, message: dict[str, Any], heartbeat: Heartbeat
    ) -> None:
        """Run the handler; while a dependency is down (or the job busy elsewhere), hold it."""
        hold = _Hold(self, delivery)
        try:
            while True:
                try:
                    await self._timed_handle(envelope, delivery)
                except Exception as exc:
                    if not (is_outage(exc) or isinstance(exc, BusyError)):
                        self._note_failure(delivery, exc)
                        await heartbeat.stop()
                        if not await self._dead_letter(message, delivery, public_reason(exc)):
                            await self._retry_later(delivery)
                        return
                    if self._stopping:
                        # another consumer takes it at once; this one is going away
                        await heartbeat.stop()
                        await self._release(delivery)
                        return
                    await self._pause(hold.next_pause_s(exc))
                else:
                    self.handled += 1
                    logger.debug("%s: handled %s", self.options.name, envelope.type)
                    self._metrics.handled.inc()
                    self._delete(delivery)
                    return
        finally:
            hold.end()

    async def _timed_handle(self, envelope: Envelope, delivery: Delivery) -> None:
        started = time.perf_counter()
        try:
            await self._handle(envelope, delivery)
        finally:
            self._metrics.duration.observe(time.perf_counter() - started)

    async def _pause(self, seconds: float) -> None:
        """Sleep with jitter, cut short by stop()."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), jittered(seconds))

    def _note_failure(self, delivery: Delivery, exc: Exception) -> None:
        self.failed += 1
        record_failure(exc)
        self._metrics.failure(last_attempt=delivery.is_last_attempt)
        logger.warning(
            "%s: message %s failed on attempt %d: %r",
            self.options.name,
            delivery.message_id,
            delivery.receive_count,
            exc,
        )

    def _delivery(self, message: dict[str, Any]) -> Delivery:
        attributes = message.get("Attributes", {})
        return Delivery(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            max_receive_count=self.options.max_receive_count,
        )

    def _log_poison(self, delivery: Delivery, exc: Exception) -> None:
        # logged once, on the last attempt, when the redrive policy is about to dead-letter it
        if delivery.is_last_attempt:
            logger.error(
                "%s: unreadable message %s after %d attempts, leaving it to the DLQ: %s",
                self.options.name,
                delivery.message_id,
                delivery.receive_count,
                exc,
            )

    async def _retry_later(self, delivery: Delivery) -> None:
        """Make the message visible again after an exponential, jittered delay."""
        delay_s = backoff_delay(
            delivery.receive_count,
            base_s=FIRST_RETRY_DELAY_S,
            cap_s=self.options.visibility_timeout_s,
        )
        with contextlib.suppress(Exception):
            # SQS counts whole seconds: rounded down, a first delay under a second was none
            await self._set_visibility(delivery, math.ceil(delay_s))

    async def _release(self, delivery: Delivery) -> None:
        with contextlib.suppress(Exception):
            await self._set_visibility(delivery, 0)

    async def _set_visibility(self, delivery: Delivery, seconds: int) -> None:
        handle = delivery.receipt_handle
        await self._sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=seconds
        )

    async def _dead_letter(self, message: dict[str, Any], delivery: Delivery, reason: str) -> bool:
        """On the last attempt, send the message to the DLQ with why it failed, then delete it
        here; False when not done (not the last attempt, no DLQ named, or the send failed: the
        redrive policy moves it then, without a reason). Deleted only once the DLQ took it; a
        delete that fails leaves a second copy for the redrive policy, which a redrive hands the
        consumer twice and its inbox takes once."""
        if not (delivery.is_last_attempt and self.options.dead_letter_queue):
            return False
        attributes = {
            **sendable_attributes(message, keep_failure=False),
            **failure_attributes(reason, utcnow(), delivery.receive_count),
        }
        try:
            if not self._dead_letter_url:
                found = await self._sqs.get_queue_url(QueueName=self.options.dead_letter_queue)
                self._dead_letter_url = found["QueueUrl"]
            entry = {
                "Id": "0",
                "MessageBody": message.get("Body", ""),
                "MessageAttributes": attributes,
            }
            sent = await self._sqs.send_message_batch(
                QueueUrl=self._dead_letter_url, Entries=[entry]
            )
            if sent.get("Failed"):
                raise RuntimeError(f"refused: {sent['Failed'][0].get('Code', '?')}")
        except Exception as exc:
            logger.warning(
                "%s: could not move message %s to %s (%r); the redrive policy will",
                self.options.name,
                delivery.message_id,
                self.options.dead_letter_queue,
                exc,
            )
            return False
        self._delete(delivery)
        return True

    def _delete(self, delivery: Delivery) -> None:
        # batched in the background: the handler's work is committed, a redelivery is harmless
        self._deletes.add(delivery.message_id, delivery.receipt_handle)


class _Hold:
    """One message held in place: its growing pause, and the consumer paused while it lasts."""

    def __init__(self, consumer: SqsConsumer, delivery: Delivery) -> None:
        self._consumer = consumer
        self._delivery = delivery
        self._outage_tries = 0
        self._outage = False

    def next_pause_s(self, exc: Exception) -> float:
        """The pause before the next try, not yet jittered (the consumer's `_pause` does that)."""
        if isinstance(exc, BusyError):
            return min(exc.retry_after_s, self._consumer.options.outage_backoff_max_s)
        if not self._outage:
            self._outage = True
            self._consumer.outage_began()
            logger.warning(
                "%s: dependency unavailable while handling %s (%r); holding it and receiving "
                "nothing new until it answers",
                self._consumer.options.name,
                self._delivery.message_id,
                exc,
            )
        self._outage_tries += 1
        return backoff_delay(
            self._outage_tries,
            base_s=FIRST_OUTAGE_PAUSE_S,
            cap_s=self._consumer.options.outage_backoff_max_s,
            jitter=False,
        )

    def end(self) -> None:
        if self._outage:
            self._consumer.outage_ended()
            logger.info(
                "%s: message %s no longer held",
                self._consumer.options.name,
                self._delivery.message_id,
            )
