"""What a consumer counts against moto: each receive, each outcome, the messages it gives up."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts.envelope import Envelope
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.consumer import ConsumerOptions, Delivery, SqsConsumer
from shared.messaging.provisioning import Deployed
from shared.observability.metrics import Metrics
from shared.settings import Settings
from tests.support.consumer import (
    MAX_RECEIVES,
    VISIBILITY_S,
    dlq_bodies,
    good_event,
    run_for,
)
from tests.support.scrapes import Scrape

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


async def test_counts_receives_outcomes_and_the_messages_left_to_the_dlq(
    deployed: Deployed, sqs: Any, aws_settings: Settings
) -> None:
    url = deployed.queue_urls[JOB_TRACKER.name]
    good, failing = good_event(), good_event()
    for body in (good.to_json(), failing.to_json(), "not an event"):
        await sqs.send_message(QueueUrl=url, MessageBody=body)

    async def handle(envelope: Envelope, _delivery: Delivery) -> None:
        if envelope.event_id == failing.event_id:
            raise ValueError("this one never works")

    metrics = Metrics()
    options = ConsumerOptions(
        name="job-tracker",
        wait_time_s=1,
        visibility_timeout_s=VISIBILITY_S,
        max_receive_count=MAX_RECEIVES,
    )
    queue = Names(aws_settings.resource_prefix).queue(JOB_TRACKER)
    consumer = SqsConsumer(sqs, queue, handle, options, metrics=metrics.consumer("job-tracker"))
    dead: list[str] = []

    async def both_dead_lettered() -> bool:
        dead.extend(await dlq_bodies(sqs, aws_settings))
        return len(dead) >= 2

    await run_for(consumer, both_dead_lettered, limit_s=30)

    found = Scrape.of(metrics)

    def count(name: str) -> float | None:
        return found.value(name, consumer="job-tracker")

    # the good one once; the failing and the unreadable one on each of their receives
    assert count("consumer_messages_received_total") == 1 + 2 * MAX_RECEIVES
    assert count("consumer_message_age_seconds_count") == 1 + 2 * MAX_RECEIVES
    assert count("consumer_messages_handled_total") == 1
    assert count("consumer_messages_failed_total") == 2 * MAX_RECEIVES
    # each failed its last receive: the redrive policy moved both to the DLQ
    assert count("consumer_messages_dead_lettered_total") == 2
    # the handler ran for the readable ones only
    assert count("consumer_handler_duration_seconds_count") == 1 + MAX_RECEIVES
    assert count("consumer_messages_in_flight") == 0
