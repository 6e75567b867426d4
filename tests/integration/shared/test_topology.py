"""The topology against moto in server mode: bootstrap, fan-out filters, claim check."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any
from uuid import uuid4

import pytest

from shared.aws.blobs import PART_BYTES, S3BlobStore
from shared.aws.clients import aws_client
from shared.contracts.topology import QUEUES, Names
from shared.messaging.claim_check import INLINE_LIMIT_BYTES, check_in, check_out
from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.factories import calendar_requested, todo_snapshot

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


async def queue_depth(sqs: Any, url: str) -> int:
    found = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(found["Attributes"]["ApproximateNumberOfMessages"])


async def drain_bodies(sqs: Any, url: str) -> list[str]:
    response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [message["Body"] for message in response.get("Messages", [])]


class TestBootstrap:
    async def test_running_it_twice_changes_nothing(self, aws_settings: Settings) -> None:
        first = await bootstrap(aws_settings)
        second = await bootstrap(aws_settings)

        assert first == second
        async with aws_client(aws_settings, "sns") as sns:
            found = await sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)
        assert len(found["Subscriptions"]) == len(QUEUES)

    async def test_queues_have_a_dlq_redrive_policy_and_the_topic_may_send(
        self, aws_settings: Settings
    ) -> None:
        deployed = await bootstrap(aws_settings)
        names = Names(aws_settings.resource_prefix)
        async with aws_client(aws_settings, "sqs") as sqs:
            for spec in QUEUES:
                url = deployed.queue_urls[spec.name]
                found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
                attributes = found["Attributes"]
                redrive = json.loads(attributes["RedrivePolicy"])
                policy = json.loads(attributes["Policy"])
                assert redrive["deadLetterTargetArn"].endswith(names.dlq(spec))
                assert int(redrive["maxReceiveCount"]) == aws_settings.sqs_max_receive_count
                condition = policy["Statement"][0]["Condition"]["ArnEquals"]
                assert condition["aws:SourceArn"] == deployed.topic_arn


class TestFanOut:
    @pytest.mark.parametrize(
        ("event_type", "expected"),
        [
            ("CalendarRequested", {"calendar-worker", "job-tracker"}),
            ("CalendarStarted", {"job-tracker"}),
            ("CalendarProgress", {"job-tracker"}),
            ("CalendarReady", {"job-tracker"}),
            ("CalendarFailed", {"job-tracker"}),
            ("CalendarCancelled", {"calendar-worker", "job-tracker"}),
            ("TodoCreated", set()),
        ],
    )
    async def test_an_event_reaches_exactly_the_queues_whose_filter_matches(
        self, aws_settings: Settings, event_type: str, expected: set[str]
    ) -> None:
        deployed = await bootstrap(aws_settings)
        body = json.dumps({"probe": str(uuid4())})
        async with aws_client(aws_settings, "sns") as sns:
            await sns.publish(
                TopicArn=deployed.topic_arn,
                Message=body,
                MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
            )
        async with aws_client(aws_settings, "sqs") as sqs:
            received = {
                name: await drain_bodies(sqs, url) for name, url in deployed.queue_urls.items()
            }
        assert {name for name, bodies in received.items() if bodies} == expected
        # raw message delivery: the body arrives as published, not wrapped in an SNS envelope
        assert all(bodies == [body] for bodies in received.values() if bodies)


class TestClaimCheck:
    async def test_a_snapshot_over_the_message_limit_round_trips_through_s3(
        self, aws_settings: Settings
    ) -> None:
        deployed = await bootstrap(aws_settings)
        todos = tuple(
            todo_snapshot(n, title=f"todo {n} " + "x" * 70, description="d" * 120)
            for n in range(1, 1200)
        )
        event = calendar_requested(todos)
        assert len(event.model_dump_json()) > 256 * 1024

        async with aws_client(aws_settings, "s3") as s3:
            blobs = S3BlobStore(s3, deployed.bucket)
            checked = await check_in(event, blobs)
            restored = await check_out(checked, blobs)

        assert checked.todos is None
        assert checked.snapshot_key is not None
        assert len(checked.model_dump_json()) < INLINE_LIMIT_BYTES
        assert restored == todos

    async def test_a_small_snapshot_stays_inline(self, aws_settings: Settings) -> None:
        deployed = await bootstrap(aws_settings)
        event = calendar_requested(())
        async with aws_client(aws_settings, "s3") as s3:
            checked = await check_in(event, S3BlobStore(s3, deployed.bucket))
        assert checked == event


async def test_bootstrap_is_safe_to_run_concurrently(aws_settings: Settings) -> None:
    results = await asyncio.gather(bootstrap(aws_settings), bootstrap(aws_settings))
    assert results[0].queue_urls == results[1].queue_urls


class TestLargeFiles:
    async def test_a_file_larger_than_one_part_is_uploaded_in_parts_and_read_back_whole(
        self, aws_settings: Settings
    ) -> None:
        await bootstrap(aws_settings)
        data = bytes(range(256)) * (PART_BYTES * 2 // 256) + b"tail"
        async with aws_client(aws_settings, "s3") as s3:
            blobs = S3BlobStore(s3, Names(aws_settings.resource_prefix).bucket)
            await blobs.put_file("calendars/large.ics", io.BytesIO(data), "text/calendar")
            stored = await blobs.get("calendars/large.ics")
            head = await s3.head_object(Bucket=blobs.bucket, Key="calendars/large.ics")

        assert stored == data
        # a multipart upload's ETag ends in the number of its parts
        assert head["ETag"].strip('"').endswith("-3")

    async def test_a_small_file_is_one_plain_upload(self, aws_settings: Settings) -> None:
        await bootstrap(aws_settings)
        async with aws_client(aws_settings, "s3") as s3:
            blobs = S3BlobStore(s3, Names(aws_settings.resource_prefix).bucket)
            await blobs.put_file(
                "calendars/small.ics", io.BytesIO(b"BEGIN:VCALENDAR"), "text/calendar"
            )
            head = await s3.head_object(Bucket=blobs.bucket, Key="calendars/small.ics")

        assert "-" not in head["ETag"]
