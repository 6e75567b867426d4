"""Move dead-lettered messages back to the queue they came from.

StartMessageMoveTask does it inside SQS where the endpoint supports it; elsewhere messages are
received, sent and deleted in batches. A message sent but not yet deleted may arrive twice,
which every consumer tolerates (an inbox keyed by event id).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table

from scripts.replay.errors import OperatorError
from scripts.replay.listing import task_id_of
from shared.contracts.topology import Names, QueueSpec
from shared.messaging.batching import MAX_BATCH_ENTRIES, batches, message_size
from shared.messaging.consumer import PoisonMessageError, decode
from shared.messaging.provisioning import queue_arn
from shared.messaging.transports import transport_client
from shared.settings import Settings

# long enough to send a batch on and delete it before the DLQ shows the messages again
MOVE_HIDE_S = 60
PEEK_HIDE_S = 30
PEEK_LIMIT = 1000
MOVE_TASK_POLL_S = 1.0
MOVE_TASK_TIMEOUT_S = 600.0
# what an endpoint without StartMessageMoveTask answers (moto answers a bare 500)
UNSUPPORTED_CODES = frozenset({"UnsupportedOperation", "InvalidAction", "NotImplemented", "500"})


class Method(StrEnum):
    AUTO = "auto"
    MOVE_TASK = "move-task"
    BATCHES = "batches"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    event_type: str
    task_id: str
    receive_count: int
    problem: str


@dataclass(frozen=True)
class Queues:
    source_url: str
    dlq_url: str


async def redrive(
    settings: Settings,
    spec: QueueSpec,
    console: Console,
    *,
    dry_run: bool = False,
    method: Method = Method.AUTO,
) -> int:
    """Return how many messages were moved (or, with `dry_run`, are waiting in the DLQ)."""
    names = Names(settings.resource_prefix)
    async with transport_client(settings, "sqs") as sqs:
        queues = Queues(await _url(sqs, names.queue(spec)), await _url(sqs, names.dlq(spec)))
        if dry_run:
            letters = await peek(sqs, queues.dlq_url)
            console.print(_letters_table(letters, names.dlq(spec)))
            console.print(f"dry run: {len(letters)} messages in {names.dlq(spec)}; nothing moved")
            return len(letters)
        moved = await _move(sqs, queues, method, console)
    console.print(f"moved {moved} messages from {names.dlq(spec)} back to {names.queue(spec)}")
    return moved


async def _url(sqs: Any, name: str) -> str:
    try:
        return str((await sqs.get_queue_url(QueueName=name))["QueueUrl"])
    except ClientError as exc:
        if "NonExistentQueue" in exc.response.get("Error", {}).get("Code", ""):
            raise OperatorError(f"queue {name} not found: run the topology bootstrap") from None
        raise


async def _move(sqs: Any, queues: Queues, method: Method, console: Console) -> int:
    if method is not Method.BATCHES:
        moved = await _move_task(sqs, queues)
        if moved is not None:
            return moved
        if method is Method.MOVE_TASK:
            raise OperatorError("this endpoint does not support StartMessageMoveTask")
        console.print("StartMessageMoveTask is not supported here; moving in batches")
    return await _move_in_batches(sqs, queues)


async def _move_task(sqs: Any, queues: Queues) -> int | None:
    """Move with StartMessageMoveTask and wait for it; None when the endpoint lacks it."""
    dlq_arn = await queue_arn(sqs, queues.dlq_url)
    try:
        await sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn=await queue_arn(sqs, queues.source_url)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in UNSUPPORTED_CODES:
            return None
        raise
    deadline = time.monotonic() + MOVE_TASK_TIMEOUT_S
    while time.monotonic() < deadline:
        found = await sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)
        task = found["Results"][0]
        if task["Status"] == "COMPLETED":
            return int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if task["Status"] in ("FAILED", "CANCELLED"):
            raise OperatorError(f"the move task {task['Status']}: {task.get('FailureReason', '')}")
        await asyncio.sleep(MOVE_TASK_POLL_S)
    raise OperatorError("the move task is still running; check it with ListMessageMoveTasks")


async def _move_in_batches(sqs: Any, queues: Queues) -> int:
    """Send and delete what the DLQ holds; a message SQS refuses stays there for a later run."""
    moved = 0
    refused: dict[str, str] = {}  # message id: why SQS refused it
    while messages := await _receive(sqs, queues.dlq_url, MOVE_HIDE_S):
        for batch in batches(messages, size_of=_sent_size):
            done, failed = await _send(sqs, queues.source_url, batch)
            await _delete(sqs, queues.dlq_url, done)
            moved += len(done)
            refused.update(failed)
            for message in done:
                refused.pop(message["MessageId"], None)
    if refused:
        reasons = ", ".join(sorted(set(refused.values())))
        raise OperatorError(
            f"moved {moved} messages; SQS refused {len(refused)} ({reasons}), "
            "which stay in the DLQ for a later redrive"
        )
    return moved


async def _send(
    sqs: Any, url: str, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Send a batch: the messages SQS took, and the ids of those it refused with the reason."""
    entries = [_send_entry(index, message) for index, message in enumerate(messages)]
    sent = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    done = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
    failed = {
        messages[int(entry["Id"])]["MessageId"]: str(entry.get("Code", "?"))
        for entry in sent.get("Failed", [])
    }
    return done, failed


def _send_entry(index: int, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": str(index),
        "MessageBody": message["Body"],
        "MessageAttributes": _attributes(message),
    }


def _sent_size(message: dict[str, Any]) -> int:
    return message_size(message["Body"], _attributes(message))


async def _delete(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for batch in batches(messages, size_of=_no_bytes):
        await sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(batch)
            ],
        )


def _no_bytes(_entry: object) -> int:
    # receipt handles carry no message: only the count limit applies
    return 0


async def peek(sqs: Any, dlq_url: str) -> list[DeadLetter]:
    """Look at the DLQ's messages and leave them there (visible again at once)."""
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < PEEK_LIMIT and (messages := await _receive(sqs, dlq_url, PEEK_HIDE_S)):
        seen.update({message["MessageId"]: message for message in messages})
    handles = [message["ReceiptHandle"] for message in seen.values()]
    for chunk in batches(handles, size_of=_no_bytes):
        await sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(chunk)
            ],
        )
    return [describe(message) for message in seen.values()]


async def _receive(sqs: Any, url: str, hide_s: int) -> list[dict[str, Any]]:
    response = await sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=MAX_BATCH_ENTRIES,
        WaitTimeSeconds=1,
        VisibilityTimeout=hide_s,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages", []))


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    # receive answers list fields too; send wants only the value that is set
    return {
        name: {key: value for key, value in attribute.items() if value not in ([], None)}
        for name, attribute in message.get("MessageAttributes", {}).items()
    }


def describe(message: dict[str, Any]) -> DeadLetter:
    """What an operator needs to judge a dead letter, read from the message alone."""
    body = message.get("Body", "")
    attribute = message.get("MessageAttributes", {}).get("type", {}).get("StringValue")
    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))
    try:
        envelope = decode(body)
    except PoisonMessageError as exc:
        event_type, task_id = attribute or _raw_field(body, "type"), _raw_task_id(body)
        return DeadLetter(message["MessageId"], event_type, task_id, count, f"unreadable: {exc}")
    # SQS keeps no handler error: a readable event failed in its consumer, whose log says why
    problem = "readable event; its handler failed (see the consumer's log)"
    return DeadLetter(message["MessageId"], envelope.type, task_id_of(envelope), count, problem)


def _raw_field(body: str, name: str) -> str:
    try:
        found = json.loads(body)
    except ValueError:
        return "?"
    return str(found.get(name, "?")) if isinstance(found, dict) else "?"


def _raw_task_id(body: str) -> str:
    try:
        data = json.loads(body).get("data", {})
    except (ValueError, AttributeError):
        return "-"
    return str(data.get("task_id", "-")) if isinstance(data, dict) else "-"


def _letters_table(letters: list[DeadLetter], dlq: str) -> Table:
    table = Table("message id", "event type", "task id", "receives", "problem", title=dlq)
    for letter in letters:
        table.add_row(
            letter.message_id,
            letter.event_type,
            letter.task_id,
            str(letter.receive_count),
            letter.problem,
        )
    return table
