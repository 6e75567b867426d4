"""Move dead letters back to the queue they came from, at a chosen rate, reporting progress.

Chosen messages (a group's, or a few by id) are received from the DLQ, sent to the queue and
deleted from the DLQ, in batches paced to the rate; the DLQ's other messages stay hidden while
the move runs and are shown again at its end. A whole DLQ on AWS goes by StartMessageMoveTask
instead (`whole_queue`), which SQS paces itself.

Safe to repeat after a crash: a message is deleted from the DLQ only after the queue took it,
so one sent but not deleted comes back to the DLQ after MOVE_HIDE_S and the next move sends it
again. Its consumer then sees the event twice, and absorbs the second by its event id (the job
tracker's inbox; the worker's render stream, whose version one outcome takes).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared.messaging.batching import batches
from shared.messaging.dead_letters import queue_calls
from shared.messaging.pace import Pace
from shared.messaging.provisioning import queue_arn

# long enough to send a batch and delete it before the DLQ shows the messages again
MOVE_HIDE_S = 60
MOVE_TASK_POLL_S = 1.0
MOVE_TASK_TIMEOUT_S = 600.0
# SQS's bounds on a move task's MaxNumberOfMessagesPerSecond
MOVE_TASK_RATE = (1, 500)
# what an endpoint without StartMessageMoveTask answers (moto answers a bare 500)
UNSUPPORTED_CODES = frozenset({"UnsupportedOperation", "InvalidAction", "NotImplemented", "500"})


class MoveTaskUnsupportedError(Exception):
    """This endpoint has no StartMessageMoveTask."""


class MoveTaskFailedError(Exception):
    """SQS's move task stopped before it was done."""


@dataclass(frozen=True)
class Queues:
    source_url: str
    dlq_url: str


@dataclass
class Progress:
    """How far a move is; read while it runs (the page polls it)."""

    total: int
    moved: int = 0
    # message id: why SQS refused to take it back (it stays in the DLQ)
    refused: dict[str, str] = field(default_factory=dict)
    # chosen messages no longer in the DLQ when the move looked (discarded or moved meanwhile)
    missing: int = 0
    # messages of the DLQ out of sight when the move began: held by a look, or sent by a move
    # that stopped half-way (they show again within MOVE_HIDE_S, for the next move)
    out_of_sight: int = 0


def batch_size(rate: float | None) -> int:
    """Messages per send: a second's worth at the rate, so progress moves smoothly."""
    return 10 if rate is None else max(1, min(10, int(rate)))


async def move_chosen(
    sqs: Any,
    queues: Queues,
    chosen: set[str] | None,
    progress: Progress,
    *,
    rate: float | None = None,
    hide_s: int = MOVE_HIDE_S,
) -> Progress:
    """Move the DLQ's messages whose ids are `chosen` (None: every one) back to the queue."""
    left = None if chosen is None else set(chosen)
    held: list[dict[str, Any]] = []
    pace = Pace(rate)
    try:
        while left is None or left:
            messages = await queue_calls.receive_more(sqs, queues.dlq_url, hide_s, ours=len(held))
            if not messages:
                break
            wanted = [m for m in messages if left is None or m["MessageId"] in left]
            held.extend(m for m in messages if m not in wanted)
            for size_batch in batches(wanted, size_of=queue_calls.sent_size):
                for batch in _chunks(size_batch, batch_size(rate)):
                    await pace.admit(len(batch))
                    done, failed = await queue_calls.send(sqs, queues.source_url, batch)
                    await queue_calls.delete(sqs, queues.dlq_url, done)
                    progress.moved += len(done)
                    progress.refused.update(failed)
                    held.extend(m for m in batch if m["MessageId"] in failed)
                    if left is not None:
                        left.difference_update(m["MessageId"] for m in batch)
        if left:
            progress.missing = len(left)
    finally:
        await queue_calls.release(sqs, queues.dlq_url, held)
    return progress


async def whole_queue(
    sqs: Any, queues: Queues, progress: Progress, *, rate: float | None = None
) -> Progress:
    """Move the whole DLQ with StartMessageMoveTask and follow it to its end."""
    dlq_arn = await queue_arn(sqs, queues.dlq_url)
    started: dict[str, Any] = {
        "SourceArn": dlq_arn,
        "DestinationArn": await queue_arn(sqs, queues.source_url),
    }
    if rate is not None:
        low, high = MOVE_TASK_RATE
        started["MaxNumberOfMessagesPerSecond"] = max(low, min(high, int(rate)))
    try:
        await sqs.start_message_move_task(**started)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in UNSUPPORTED_CODES:
            raise MoveTaskUnsupportedError from None
        raise
    deadline = time.monotonic() + MOVE_TASK_TIMEOUT_S
    while time.monotonic() < deadline:
        found = await sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)
        task = found["Results"][0]
        progress.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        progress.total = max(progress.total, int(task.get("ApproximateNumberOfMessagesToMove", 0)))
        if task["Status"] == "COMPLETED":
            return progress
        if task["Status"] in ("FAILED", "CANCELLED"):
            raise MoveTaskFailedError(
                f"the move task {task['Status']}: {task.get('FailureReason', '')}"
            )
        await asyncio.sleep(MOVE_TASK_POLL_S)
    raise MoveTaskFailedError("the move task is still running; check it with ListMessageMoveTasks")


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
