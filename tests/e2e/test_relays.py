"""Two todo_api instances on one database: their relays publish each routed event once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from shared.aws import aws_client
from shared.bootstrap import bootstrap
from shared.envelope import Envelope
from tests.e2e.api_client import ApiClient
from tests.e2e.cluster import Cluster
from tests.polling import eventually

TODOS_PER_INSTANCE = 20


async def audit_queue(cluster: Cluster, sqs: Any, sns: Any) -> str:
    """A queue subscribed to every event of the topic, unfiltered."""
    deployed = await bootstrap(cluster.settings)
    name = f"{cluster.settings.resource_prefix}audit"
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
                "Condition": {"ArnEquals": {"aws:SourceArn": deployed.topic_arn}},
            }
        ],
    }
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    await sns.subscribe(
        TopicArn=deployed.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return str(url)


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
        aws_client(cluster.settings, "sqs") as sqs,
        aws_client(cluster.settings, "sns") as sns,
    ):
        url = await audit_queue(cluster, sqs, sns)
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
