"""The SQS calls dead letters need, in batches SQS accepts, on any transport's client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from shared.messaging.batching import MAX_BATCH_ENTRIES, batches, message_size
from shared.messaging.dead_letters.failures import sendable_attributes
from shared.messaging.dead_letters.grouping import DeadLetter, describe

# how long a look at a DLQ hides what it received; the look shows them again when it is done
PEEK_HIDE_S = 30
PEEK_LIMIT = 1000
# how long a move or discard waits for messages someone else holds out of sight (a look at the
# DLQ holds them for a second or two) before it takes them for gone
HELD_ELSEWHERE_PATIENCE_S = 10.0
HELD_ELSEWHERE_POLL_S = 0.2


class QueueMissingError(LookupError):
    """A queue of the topology is not there: the topology bootstrap has not run."""


async def queue_url(sqs: Any, name: str) -> str:
    try:
        return str((await sqs.get_queue_url(QueueName=name))["QueueUrl"])
    except ClientError as exc:
        if "NonExistentQueue" in exc.response.get("Error", {}).get("Code", ""):
            raise QueueMissingError(f"queue {name} not found: run the topology bootstrap") from None
        raise


async def receive(sqs: Any, url: str, hide_s: int, *, wait_s: int = 1) -> list[dict[str, Any]]:
    response = await sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=MAX_BATCH_ENTRIES,
        WaitTimeSeconds=wait_s,
        VisibilityTimeout=hide_s,
        MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages", []))


async def receive_more(
    sqs: Any, url: str, hide_s: int, *, ours: int, patience_s: float = HELD_ELSEWHERE_PATIENCE_S
) -> list[dict[str, Any]]:
    """The next messages; none once the queue holds no visible message and no hidden one but
    the `ours` this caller holds, or after `patience_s` of others holding them."""
    deadline = time.monotonic() + patience_s
    while True:
        if messages := await receive(sqs, url, hide_s):
            return messages
        visible, hidden = await depth(sqs, url)
        if (visible == 0 and hidden <= ours) or time.monotonic() >= deadline:
            return []
        await asyncio.sleep(HELD_ELSEWHERE_POLL_S)


async def depth(sqs: Any, url: str) -> tuple[int, int]:
    """SQS's approximate counts: visible messages, and those received and hidden."""
    wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=wanted)
    return int(found["Attributes"][wanted[0]]), int(found["Attributes"][wanted[1]])


async def peek(sqs: Any, url: str, limit: int = PEEK_LIMIT) -> list[DeadLetter]:
    """The queue's messages (up to `limit`), left where they are and visible again at once.

    While a look runs, the messages it holds are hidden from any other look or move."""
    seen: dict[str, dict[str, Any]] = {}
    try:
        while len(seen) < limit and (messages := await receive(sqs, url, PEEK_HIDE_S)):
            seen.update({message["MessageId"]: message for message in messages})
    finally:
        await release(sqs, url, seen.values())
    return [describe(message) for message in seen.values()]


async def release(sqs: Any, url: str, messages: Iterable[dict[str, Any]]) -> None:
    """Make received messages visible again at once."""
    handles = [message["ReceiptHandle"] for message in messages]
    for chunk in batches(handles, size_of=_no_bytes):
        await sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(chunk)
            ],
        )


async def send(
    sqs: Any, url: str, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Send one batch back to be handled (without the failure's attributes): the messages SQS
    took, and the ids of those it refused with the reason."""
    entries = [
        {
            "Id": str(index),
            "MessageBody": message["Body"],
            "MessageAttributes": sendable_attributes(message, keep_failure=False),
        }
        for index, message in enumerate(messages)
    ]
    sent = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    done = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
    failed = {
        messages[int(entry["Id"])]["MessageId"]: str(entry.get("Code", "?"))
        for entry in sent.get("Failed", [])
    }
    return done, failed


def sent_size(message: dict[str, Any]) -> int:
    return message_size(message["Body"], sendable_attributes(message, keep_failure=False))


async def delete(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for chunk in batches(messages, size_of=_no_bytes):
        await sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(chunk)
            ],
        )


def _no_bytes(_entry: object) -> int:
    # receipt handles carry no message: only the count limit applies
    return 0
