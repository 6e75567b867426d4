"""A consumer that gives up on a message moves it to the DLQ itself, saying why (the error's
class, never its text) and on which receive, and deletes it from its queue; where the DLQ
refuses it, the redrive policy moves it instead, without a reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.clock import parse_datetime, utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.consumer import ConsumerOptions, Delivery, SqsConsumer
from shared.messaging.dead_letters.failures import FAILED_AT, FAILED_RECEIVES, FAILURE
from shared.messaging.provisioning import Deployed
from shared.settings import Settings
from tests.support.consumer import MAX_RECEIVES, VISIBILITY_S, good_event, run_for

TYPE = {"type": {"DataType": "String", "StringValue": "CalendarStarted"}}


async def failing(_envelope: Envelope, _delivery: Delivery) -> None:
    raise LookupError("row 42 of tenant acme at db-7.internal")


def dead_lettering(sqs: Any, settings: Settings) -> SqsConsumer:
    names = Names(settings.resource_prefix)
    options = ConsumerOptions(
        name="test",
        wait_time_s=1,
        visibility_timeout_s=VISIBILITY_S,
        max_receive_count=MAX_RECEIVES,
        dead_letter_queue=names.dlq(JOB_TRACKER),
    )
    return SqsConsumer(sqs, names.queue(JOB_TRACKER), failing, options)


async def dlq_url(sqs: Any, settings: Settings) -> str:
    found = await sqs.get_queue_url(QueueName=Names(settings.resource_prefix).dlq(JOB_TRACKER))
    return str(found["QueueUrl"])


async def dead_letters(sqs: Any, settings: Settings) -> list[dict[str, Any]]:
    response = await sqs.receive_message(
        QueueUrl=await dlq_url(sqs, settings),
        MaxNumberOfMessages=10,
        WaitTimeSeconds=0,
        VisibilityTimeout=0,
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages", []))


async def depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
    return sum(int(found["Attributes"][name]) for name in names)


class RefusingTheDlq:
    """An SQS client whose sends to one queue are refused entry by entry."""

    def __init__(self, sqs: Any, refused_url: str) -> None:
        self._sqs, self._refused_url = sqs, refused_url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    async def send_message_batch(self, *, QueueUrl: str, Entries: list[Any]) -> Any:
        if QueueUrl == self._refused_url:
            return {"Failed": [{"Id": entry["Id"], "Code": "KMS.Throttled"} for entry in Entries]}
        return await self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


class TestDeadLettering:
    async def test_the_last_failure_moves_the_message_to_the_dlq_with_why(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        event = good_event()
        queue = deployed.queue_urls[JOB_TRACKER.name]
        await sqs.send_message(QueueUrl=queue, MessageBody=event.to_json(), MessageAttributes=TYPE)
        before = utcnow()
        consumer = dead_lettering(sqs, aws_settings)
        found: list[dict[str, Any]] = []

        async def dead() -> bool:
            found.extend(await dead_letters(sqs, aws_settings))
            return bool(found)

        await run_for(consumer, dead, limit_s=30)

        (letter,) = found
        attributes = {
            name: value["StringValue"] for name, value in letter["MessageAttributes"].items()
        }
        assert letter["Body"] == event.to_json()
        assert attributes[FAILURE] == "LookupError"
        assert attributes[FAILED_RECEIVES] == str(MAX_RECEIVES)
        assert before - timedelta(seconds=1) <= parse_datetime(attributes[FAILED_AT]) <= utcnow()
        assert attributes["type"] == "CalendarStarted"
        assert "acme" not in str(letter["MessageAttributes"])
        assert await depth(sqs, queue) == 0

    async def test_where_the_dlq_refuses_it_the_redrive_policy_moves_it_without_a_reason(
        self, deployed: Deployed, sqs: Any, aws_settings: Settings
    ) -> None:
        queue, dlq = deployed.queue_urls[JOB_TRACKER.name], await dlq_url(sqs, aws_settings)
        await sqs.send_message(QueueUrl=queue, MessageBody=good_event().to_json())
        consumer = dead_lettering(RefusingTheDlq(sqs, dlq), aws_settings)
        found: list[dict[str, Any]] = []

        async def dead() -> bool:
            found.extend(await dead_letters(sqs, aws_settings))
            return bool(found)

        await run_for(consumer, dead, limit_s=30)

        (letter,) = found
        assert FAILURE not in letter.get("MessageAttributes", {})
        assert consumer.failed == MAX_RECEIVES
