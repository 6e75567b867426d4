"""The Publisher port, one contract: the in-memory bus the unit tests use, SnsPublisher on the
embedded transport, and SnsPublisher on the wire (moto; LocalStack under TEST_AWS_ENDPOINT_URL).

Moto enforces no size limit, so the refusal of an oversized entry is held against LocalStack
(make test-localstack runs this file), the embedded transport and the fake.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from embedded.transport.clients import provision_embedded
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.batching import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from shared.messaging.provisioning import bootstrap
from shared.messaging.publisher import (
    InMemoryBus,
    Outgoing,
    Publisher,
    SnsPublisher,
    outgoing_batches,
)
from shared.messaging.transports import transport_client
from shared.settings import Settings

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

ENTRY_BYTES = 30 * 1024
ENTRIES = 12
ENFORCING = ["memory", "embedded"] + (["aws"] if os.environ.get("TEST_AWS_ENDPOINT_URL") else [])


def event(position: int, padding: int = ENTRY_BYTES) -> Outgoing:
    body = json.dumps({"position": position, "padding": "x" * padding})
    return Outgoing(position=position, type="CalendarStarted", body=body)


@dataclass
class Bus:
    publisher: Publisher
    # the positions that arrived where a subscriber reads them
    arrived: Callable[[int], Awaitable[list[int]]]


@pytest.fixture
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    if request.param == "memory":
        memory = InMemoryBus()

        async def sent(_expected: int) -> list[int]:
            return [json.loads(message.body)["position"] for message in memory.sent]

        yield Bus(memory, sent)
        return
    settings: Settings = request.getfixturevalue("aws_settings")
    if request.param == "embedded":
        settings = settings.model_copy(update={"transport": "embedded", "var_dir": tmp_path})
        await provision_embedded(settings)
    else:
        await bootstrap(settings)
    names = Names(settings.resource_prefix)
    async with transport_client(settings, "sns") as sns, transport_client(settings, "sqs") as sqs:
        url = (await sqs.get_queue_url(QueueName=names.queue(JOB_TRACKER)))["QueueUrl"]

        async def received(expected: int) -> list[int]:
            positions: list[int] = []
            for _ in range(expected * 2):
                answer = await sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
                positions += [json.loads(m["Body"])["position"] for m in answer.get("Messages", [])]
                if len(positions) >= expected:
                    break
            return positions

        yield Bus(SnsPublisher(sns, names.topic), received)


every_publisher = pytest.mark.parametrize("bus", ["memory", "embedded", "aws"], indirect=True)


@every_publisher
async def test_events_whose_sizes_add_up_past_the_batch_limit_are_all_published(
    bus: Bus,
) -> None:
    messages = [event(position) for position in range(1, ENTRIES + 1)]
    batches = list(outgoing_batches(messages))
    assert sum(message.size_bytes for message in messages) > MAX_BATCH_BYTES
    assert all(sum(m.size_bytes for m in batch) <= MAX_BATCH_BYTES for batch in batches)

    refused = [await bus.publisher.publish(batch) for batch in batches]

    assert refused == [{}] * len(batches)
    assert sorted(await bus.arrived(ENTRIES)) == list(range(1, ENTRIES + 1))


@every_publisher
async def test_a_batch_refused_as_a_whole_is_sent_one_by_one(bus: Bus) -> None:
    # one batch over the limit, as a miscounting sender would build it
    oversized = [event(position) for position in range(1, 10)]

    refused = await bus.publisher.publish(oversized)

    assert refused == {}
    assert sorted(await bus.arrived(len(oversized))) == list(range(1, 10))


@pytest.mark.parametrize("bus", ENFORCING, indirect=True)
@pytest.mark.parametrize("company", [0, 2], ids=["alone", "in-a-batch"])
async def test_an_entry_too_large_for_any_message_is_refused_on_its_own(
    bus: Bus, company: int
) -> None:
    too_large = event(1, padding=MAX_MESSAGE_BYTES)
    others = [event(position, padding=100) for position in range(2, 2 + company)]

    refused = await bus.publisher.publish([too_large, *others])

    assert list(refused) == [1]
    assert sorted(await bus.arrived(company)) == [message.position for message in others]
