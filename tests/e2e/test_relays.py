"""Two todo_api instances on one database: their relays publish each routed event once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import aiohttp
import pytest

from embedded.transport import transport as transports
from embedded.transport.clients import transport_path
from embedded.transport.database import write_transaction
from embedded.transport.provision import UPSERT_QUEUE, UPSERT_SUBSCRIPTION
from shared.contracts.envelope import Envelope
from shared.contracts.topology import Names
from shared.messaging.publisher import resolve_topic_arn
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.cluster import Cluster
from tests.support.polling import eventually

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

TODOS_PER_INSTANCE = 20
AUDIT_VISIBILITY_S = 30


async def audit_queue(settings: Settings, sqs: Any, sns: Any) -> str:
    """A queue subscribed to every event of the topic, unfiltered."""
    name = f"{settings.resource_prefix}audit"
    topic_arn = await resolve_topic_arn(sns, Names(settings.resource_prefix).topic)
    if settings.transport == "embedded":
        await subscribe_embedded(settings, topic_arn.rsplit(":", 1)[-1], name)
        return str((await sqs.get_queue_url(QueueName=name))["QueueUrl"])
    url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    await sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return str(url)


async def subscribe_embedded(settings: Settings, topic: str, queue: str) -> None:
    """The embedded clients create nothing (its topology is provisioned into the transport's
    file), so the audit queue and its unfiltered subscription are written there the same way."""

    def add(conn: sqlite3.Connection) -> None:
        with write_transaction(conn):
            conn.execute(UPSERT_QUEUE, (queue, AUDIT_VISIBILITY_S, None, None))
            conn.execute(UPSERT_SUBSCRIPTION, (topic, queue, "{}"))

    transport = transports.acquire(transport_path(settings), settings.aws_region)
    try:
        await transport.database.run(add)
    finally:
        transports.release(transport)


async def drain(sqs: Any, url: str) -> list[Envelope]:
    received: list[Envelope] = []
    while True:
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2
        )
        messages = response.get("Messages", [])
        if not messages:
            return received
        received += [Envelope.from_json(message["Body"]) for message in messages]
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
        ]
        await sqs.delete_message_batch(QueueUrl=url, Entries=entries)


async def test_two_instances_publish_every_event_once(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    async with (
        transport_client(cluster.settings, "sqs") as sqs,
        transport_client(cluster.settings, "sns") as sns,
    ):
        url = await audit_queue(cluster.settings, sqs, sns)
        first, second = cluster.service("todo_api"), cluster.service("todo_api")
        await cluster.start(first, second)
        clients = [ApiClient(http, first.url), ApiClient(http, second.url)]

        async def write_through(client: ApiClient) -> None:
            for number in range(TODOS_PER_INSTANCE):
                await client.create_todo(title=f"Todo {number}")
                await client.request_calendar()

        await asyncio.gather(*(write_through(client) for client in clients))
        # todo changes stay in the log: no queue subscribes to them, so none is published
        stored = int(
            await cluster.db.fetchval(
                f'SELECT count(*) FROM "{cluster.schema}".todo_api_events '
                "WHERE type = 'CalendarRequested'"
            )
        )

        async def outbox_empty() -> bool:
            found = await cluster.db.fetchval(
                f'SELECT count(*) FROM "{cluster.schema}".todo_api_outbox'
            )
            return int(found) == 0

        await eventually(outbox_empty, timeout_s=30)
        received = await drain(sqs, url)

    event_ids = [envelope.event_id for envelope in received]
    assert stored == 2 * TODOS_PER_INSTANCE
    assert len(event_ids) == len(set(event_ids)) == stored
    assert {envelope.type for envelope in received} == {"CalendarRequested"}
