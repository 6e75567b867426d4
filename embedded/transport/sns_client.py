"""An SNS client for the embedded transport: PublishBatch, GetTopicAttributes and the ListTopics
paginator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from embedded.transport import names, topics
from embedded.transport.batch_rules import check_batch
from embedded.transport.errors import client_error
from embedded.transport.messages import NewMessage
from embedded.transport.transport import Transport
from shared.messaging.batching import message_size


class EmbeddedSns:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def publish_batch(self, **request: Any) -> dict[str, Any]:
        """Fan the batch out; it is committed to the file before this returns."""
        entries = request["PublishBatchRequestEntries"]
        check_batch("PublishBatch", entries, size_of=_entry_size)
        topic = names.name_of_arn(request["TopicArn"])
        batch = [NewMessage(e["Message"], e.get("MessageAttributes", {})) for e in entries]
        ids, touched = await self._transport.database.run(_publish, topic, batch)
        self._transport.wakeups.notify(touched)
        return {
            "Successful": [
                {"Id": entry["Id"], "MessageId": message_id}
                for entry, message_id in zip(entries, ids, strict=True)
            ],
            "Failed": [],
        }

    async def get_topic_attributes(self, **request: Any) -> dict[str, Any]:
        """The topic's ARN and owner (what readiness asks to know the topic is there)."""
        arn = request["TopicArn"]
        exists = await self._transport.database.run(topics.topic_exists, names.name_of_arn(arn))
        if not exists:
            raise client_error("GetTopicAttributes", "NotFound", "Topic does not exist", status=404)
        return {"Attributes": {"TopicArn": arn, "Owner": names.ACCOUNT}}

    def get_paginator(self, operation: str) -> TopicPages:
        if operation != "list_topics":
            raise ValueError(f"the embedded SNS client paginates list_topics only, not {operation}")
        return TopicPages(self._transport)


class TopicPages:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def paginate(self) -> AsyncIterator[dict[str, Any]]:
        found = await self._transport.database.run(topics.topic_names)
        region = self._transport.region
        yield {"Topics": [{"TopicArn": names.topic_arn(region, name)} for name in found]}


def _publish(conn: Any, topic: str, batch: list[NewMessage]) -> tuple[list[str], set[str]]:
    if not topics.topic_exists(conn, topic):
        raise client_error("PublishBatch", "NotFound", "Topic does not exist", status=404)
    return topics.publish(conn, topic, batch)


def _entry_size(entry: dict[str, Any]) -> int:
    return message_size(entry["Message"], entry.get("MessageAttributes"))
