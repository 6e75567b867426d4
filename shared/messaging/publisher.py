"""Publishing events: the Publisher port, SNS for real, an in-memory bus for unit tests."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from shared.messaging.batching import MAX_MESSAGE_BYTES, batches, message_size
from shared.observability.tracing import sending
from shared.outages import is_outage
from shared.settings import DEFAULT_SERVICE_NAME

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """One stored event ready to send: its outbox position, type and envelope JSON."""

    position: int
    type: str
    body: str

    @property
    def attributes(self) -> dict[str, dict[str, str]]:
        # the attribute every subscription's filter policy reads
        return {"type": {"DataType": "String", "StringValue": self.type}}

    @property
    def size_bytes(self) -> int:
        return message_size(self.body, self.attributes)


# position -> why SNS refused that entry
Refused = dict[int, str]


class Publisher(Protocol):
    async def publish(self, batch: Sequence[Outgoing]) -> Refused:
        """Send one batch (see outgoing_batches); return the entries refused on their own.

        Raises when the broker cannot be reached: then nothing of the batch is known to be sent.
        """
        ...


def outgoing_batches(messages: Iterable[Outgoing]) -> Iterator[list[Outgoing]]:
    """The messages in order, in batches SNS PublishBatch accepts (count and bytes)."""
    return batches(messages, lambda message: message.size_bytes)


class SnsPublisher:
    """Publishes to the topic with the `type` attribute the subscription filters read."""

    def __init__(self, sns: Any, topic_name: str, *, service: str = DEFAULT_SERVICE_NAME) -> None:
        self._sns = sns
        self.topic_name = topic_name
        # whose producer spans the sends are
        self.service = service
        # looked up on first use, so a service starts even while SNS is unreachable
        self.topic_arn: str | None = None

    async def publish(self, batch: Sequence[Outgoing]) -> Refused:
        if self.topic_arn is None:
            self.topic_arn = await resolve_topic_arn(self._sns, self.topic_name)
        if len(batch) == 1:
            return await self._publish_one(batch[0])
        try:
            return await self._publish_batch(batch)
        except ClientError as exc:
            if is_outage(exc):
                raise
            # a request refused as a whole for its content: find the entries at fault one by one
            logger.warning("SNS refused a batch of %d (%r); sending one by one", len(batch), exc)
            refused: Refused = {}
            for message in batch:
                refused.update(await self._publish_one(message))
            return refused

    async def _publish_one(self, message: Outgoing) -> Refused:
        """A batch of one: refused for its content, it is refused on its own (never raised, or
        the relay would retry it forever ahead of everything behind it)."""
        try:
            return await self._publish_batch([message])
        except ClientError as exc:
            if is_outage(exc):
                raise
            return {message.position: str(exc.response.get("Error", {}).get("Code", exc))}

    async def _publish_batch(self, batch: Sequence[Outgoing]) -> Refused:
        entries = [
            {
                "Id": str(message.position),
                "Message": message.body,
                "MessageAttributes": message.attributes,
            }
            for message in batch
        ]
        with sending(self.service, self.topic_name, batch) as spans:
            response = await self._sns.publish_batch(
                TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
            )
            refused = {
                int(entry["Id"]): f"{entry.get('Code', 'Failed')}: {entry.get('Message', '')}"
                for entry in response.get("Failed", [])
            }
            if spans is not None:
                spans.refused(refused)
        if refused:
            logger.warning("SNS refused %d of %d messages: %s", len(refused), len(batch), refused)
        return refused


@dataclass
class InMemoryBus:
    """A Publisher that keeps what it was sent, for unit tests of pure logic.

    It answers as SnsPublisher does on SNS (one contract test holds the two to the same answers):
    an entry too large for any message is refused on its own, the rest is sent.
    """

    sent: list[Outgoing] = field(default_factory=list)
    fail_next: int = 0

    async def publish(self, batch: Sequence[Outgoing]) -> Refused:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("bus unavailable")
        refused = {
            message.position: "BatchRequestTooLong: the message is too large"
            for message in batch
            if message.size_bytes > MAX_MESSAGE_BYTES
        }
        self.sent.extend(message for message in batch if message.position not in refused)
        return refused


async def resolve_topic_arn(sns: Any, topic: str) -> str:
    """Find the topic's ARN by name (services never create infrastructure)."""
    paginator = sns.get_paginator("list_topics")
    async for page in paginator.paginate():
        for entry in page.get("Topics", []):
            if entry["TopicArn"].rsplit(":", 1)[-1] == topic:
                return str(entry["TopicArn"])
    raise LookupError(f"SNS topic {topic!r} not found: run the topology bootstrap first")
