"""Publishing events: the Publisher port, SNS for real, an in-memory bus for unit tests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)
SNS_BATCH_LIMIT = 10


@dataclass(frozen=True)
class Outgoing:
    """One stored event ready to send: its outbox position, type and envelope JSON."""

    position: int
    type: str
    body: str


class Publisher(Protocol):
    async def publish(self, messages: Sequence[Outgoing]) -> int:
        """Send messages in order; return how many of the first ones were accepted."""
        ...


class SnsPublisher:
    """Publishes to the topic with the `type` attribute the subscription filters read."""

    def __init__(self, sns: Any, topic_name: str) -> None:
        self._sns = sns
        self.topic_name = topic_name
        # looked up on first use, so a service starts even while SNS is unreachable
        self.topic_arn: str | None = None

    async def publish(self, messages: Sequence[Outgoing]) -> int:
        if self.topic_arn is None:
            self.topic_arn = await resolve_topic_arn(self._sns, self.topic_name)
        sent = 0
        for start in range(0, len(messages), SNS_BATCH_LIMIT):
            chunk = messages[start : start + SNS_BATCH_LIMIT]
            accepted = await self._publish_chunk(chunk)
            sent += accepted
            if accepted < len(chunk):
                break
        return sent

    async def _publish_chunk(self, chunk: Sequence[Outgoing]) -> int:
        entries = [
            {
                "Id": str(message.position),
                "Message": message.body,
                "MessageAttributes": {"type": {"DataType": "String", "StringValue": message.type}},
            }
            for message in chunk
        ]
        response = await self._sns.publish_batch(
            TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
        )
        failed = {entry["Id"] for entry in response.get("Failed", [])}
        if failed:
            logger.warning("SNS refused %d of %d messages", len(failed), len(chunk))
        # only the unbroken prefix counts, so a stream's events never overtake each other
        for index, message in enumerate(chunk):
            if str(message.position) in failed:
                return index
        return len(chunk)


@dataclass
class InMemoryBus:
    """A Publisher that keeps what it was sent, for unit tests of pure logic."""

    sent: list[Outgoing] = field(default_factory=list)
    fail_next: int = 0

    async def publish(self, messages: Sequence[Outgoing]) -> int:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("bus unavailable")
        self.sent.extend(messages)
        return len(messages)


async def resolve_topic_arn(sns: Any, topic: str) -> str:
    """Find the topic's ARN by name (services never create infrastructure)."""
    paginator = sns.get_paginator("list_topics")
    async for page in paginator.paginate():
        for entry in page.get("Topics", []):
            if entry["TopicArn"].rsplit(":", 1)[-1] == topic:
                return str(entry["TopicArn"])
    raise LookupError(f"SNS topic {topic!r} not found: run the topology bootstrap first")
