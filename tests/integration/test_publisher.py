"""SnsPublisher on the wire: batches that add up past SNS's 256 KiB arrive whole.

Moto enforces no batch size; LocalStack does, like AWS (make test-localstack runs this file).
"""

from __future__ import annotations

import json
from typing import Any

from shared.aws import aws_client
from shared.bootstrap import bootstrap
from shared.bus import Outgoing, SnsPublisher, outgoing_batches
from shared.settings import Settings
from shared.topology import JOB_TRACKER, Names

ENTRY_BYTES = 30 * 1024
ENTRIES = 12


def large_event(position: int) -> Outgoing:
    body = json.dumps({"position": position, "padding": "x" * ENTRY_BYTES})
    return Outgoing(position=position, type="CalendarStarted", body=body)


async def receive_all(sqs: Any, url: str, expected: int) -> list[str]:
    bodies: list[str] = []
    for _ in range(expected * 2):
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        bodies += [message["Body"] for message in response.get("Messages", [])]
        if len(bodies) >= expected:
            break
    return bodies


async def test_events_whose_sizes_add_up_past_the_batch_limit_are_all_published(
    aws_settings: Settings,
) -> None:
    deployed = await bootstrap(aws_settings)
    messages = [large_event(position) for position in range(1, ENTRIES + 1)]
    batches = list(outgoing_batches(messages))
    assert sum(message.size_bytes for message in messages) > 256 * 1024
    assert all(sum(m.size_bytes for m in batch) <= 256 * 1024 for batch in batches)

    async with aws_client(aws_settings, "sns") as sns, aws_client(aws_settings, "sqs") as sqs:
        publisher = SnsPublisher(sns, Names(aws_settings.resource_prefix).topic)
        refused = [await publisher.publish(batch) for batch in batches]
        bodies = await receive_all(sqs, deployed.queue_urls[JOB_TRACKER.name], ENTRIES)

    assert refused == [{}] * len(batches)
    assert sorted(json.loads(body)["position"] for body in bodies) == list(range(1, ENTRIES + 1))


async def test_a_batch_refused_as_a_whole_is_sent_one_by_one(aws_settings: Settings) -> None:
    deployed = await bootstrap(aws_settings)
    # one batch over the limit, as a miscounting sender would build it
    oversized = [large_event(position) for position in range(1, 10)]

    async with aws_client(aws_settings, "sns") as sns, aws_client(aws_settings, "sqs") as sqs:
        publisher = SnsPublisher(sns, Names(aws_settings.resource_prefix).topic)
        refused = await publisher.publish(oversized)
        bodies = await receive_all(sqs, deployed.queue_urls[JOB_TRACKER.name], len(oversized))

    assert refused == {}
    assert len(bodies) == len(oversized)
