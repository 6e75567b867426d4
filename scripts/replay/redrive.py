"""Move dead-lettered messages back to the queue they came from: the whole DLQ.

The moving is `shared/messaging/dead_letters` (the operations page's too): StartMessageMoveTask
inside SQS where the endpoint supports it; elsewhere messages are received, sent and deleted in
batches. A message sent but not yet deleted may arrive twice, which every consumer tolerates
(an inbox keyed by event id). `dead-letters redrive` moves a group or some messages instead.
"""

from __future__ import annotations

from enum import StrEnum

from rich.console import Console
from rich.table import Table

from scripts.replay.errors import OperatorError
from shared.contracts.topology import Names, QueueSpec
from shared.messaging.dead_letters.dead_letter_queue import DeadLetterQueue
from shared.messaging.dead_letters.grouping import DeadLetter
from shared.messaging.dead_letters.moves import MoveTaskUnsupportedError, Progress
from shared.messaging.dead_letters.queue_calls import QueueMissingError
from shared.messaging.transports import transport_client
from shared.settings import Settings


class Method(StrEnum):
    AUTO = "auto"
    MOVE_TASK = "move-task"
    BATCHES = "batches"


MOVE_TASK_CHOICE = {Method.AUTO: None, Method.MOVE_TASK: True, Method.BATCHES: False}


async def redrive(
    settings: Settings,
    spec: QueueSpec,
    console: Console,
    *,
    dry_run: bool = False,
    method: Method = Method.AUTO,
    rate: float | None = None,
) -> int:
    """Return how many messages were moved (or, with `dry_run`, are waiting in the DLQ)."""
    names = Names(settings.resource_prefix)
    async with transport_client(settings, "sqs") as sqs:
        queue = DeadLetterQueue(sqs, spec, names)
        try:
            if dry_run:
                letters = await queue.letters()
                console.print(letters_table(letters, queue.name))
                console.print(f"dry run: {len(letters)} messages in {queue.name}; nothing moved")
                return len(letters)
            progress = await queue.redrive(
                set(), Progress(total=0), rate=rate, whole=True, move_task=MOVE_TASK_CHOICE[method]
            )
        except QueueMissingError as exc:
            raise OperatorError(str(exc)) from None
        except MoveTaskUnsupportedError:
            raise OperatorError("this endpoint does not support StartMessageMoveTask") from None
    if progress.refused:
        reasons = ", ".join(sorted(set(progress.refused.values())))
        raise OperatorError(
            f"moved {progress.moved} messages; SQS refused {len(progress.refused)} ({reasons}), "
            "which stay in the DLQ for a later redrive"
        )
    console.print(f"moved {progress.moved} messages from {queue.name} back to {queue.source}")
    return progress.moved


def letters_table(letters: list[DeadLetter], dlq: str) -> Table:
    table = Table("message id", "event type", "task id", "receives", "failure", title=dlq)
    for letter in letters:
        table.add_row(
            letter.message_id,
            letter.event_type,
            letter.task_id or "-",
            str(letter.receive_count),
            letter.failure,
        )
    return table
