"""`dead-letters list|show|redrive|discard`: the operations page's dead letters panel on the
command line, through the same code (`shared/messaging/dead_letters`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from scripts.replay.errors import OperatorError
from shared.contracts.topology import Names, QueueSpec
from shared.eventstore.store import EventStore
from shared.messaging.dead_letters import moves
from shared.messaging.dead_letters.dead_letter_queue import (
    DeadLetterQueue,
    NothingChosenError,
    Selection,
)
from shared.messaging.dead_letters.discards import recorder
from shared.messaging.dead_letters.grouping import GROUP_ID_CHARS
from shared.messaging.dead_letters.queue_calls import QueueMissingError
from shared.messaging.dead_letters.report import detail
from shared.messaging.transports import transport_client
from shared.settings import Settings

# how often the progress line is redrawn while a redrive runs
PROGRESS_POLL_S = 0.2


@asynccontextmanager
async def opened(settings: Settings, spec: QueueSpec) -> AsyncIterator[DeadLetterQueue]:
    async with transport_client(settings, "sqs") as sqs:
        try:
            yield DeadLetterQueue(sqs, spec, Names(settings.resource_prefix))
        except QueueMissingError as exc:
            raise OperatorError(str(exc)) from None
        except NothingChosenError as exc:
            raise OperatorError(f"{exc}: see `dead-letters list`") from None


async def list_groups(settings: Settings, spec: QueueSpec, console: Console) -> int:
    async with opened(settings, spec) as queue:
        groups = await queue.groups()
    table = Table(title=queue.name)
    # the group id is what `redrive --group` takes: never cut short
    table.add_column("group", no_wrap=True, min_width=GROUP_ID_CHARS)
    for heading in ("event type", "failure", "count", "first seen", "last seen"):
        table.add_column(heading, overflow="fold")
    for found in groups:
        table.add_row(
            found.group_id,
            found.event_type,
            found.failure,
            str(found.count),
            _when(found.first_seen),
            _when(found.last_seen),
        )
    console.print(table)
    console.print(f"{sum(found.count for found in groups)} messages in {len(groups)} groups")
    return len(groups)


async def show(settings: Settings, spec: QueueSpec, message_id: str, console: Console) -> None:
    async with opened(settings, spec) as queue:
        letter = await queue.find(message_id)
    if letter is None:
        raise OperatorError(f"{queue.name} holds no message {message_id}")
    shown = detail(queue.name, letter).model_dump(mode="json")
    console.print_json(json.dumps(shown))


async def redrive_chosen(
    settings: Settings,
    spec: QueueSpec,
    selection: Selection,
    console: Console,
    *,
    rate: float | None,
) -> moves.Progress:
    async with opened(settings, spec) as queue:
        chosen = await queue.chosen(selection)
        progress = moves.Progress(total=len(chosen))
        running = asyncio.ensure_future(
            queue.redrive(chosen, progress, rate=rate, whole=selection.everything)
        )
        await _follow(console, f"redrive to {queue.source}", progress, running)
    console.print(
        f"moved {progress.moved} of {progress.total} messages from {queue.name} to {queue.source}"
        + (f"; {progress.missing} no longer in the DLQ" if progress.missing else "")
    )
    if progress.out_of_sight:
        console.print(
            f"{progress.out_of_sight} messages of {queue.name} were out of sight when it began "
            f"(a look at it, or a redrive stopped half-way): they show again within "
            f"{moves.MOVE_HIDE_S} s; run it again then to move them"
        )
    if progress.refused:
        reasons = ", ".join(sorted(set(progress.refused.values())))
        raise OperatorError(
            f"SQS refused {len(progress.refused)} ({reasons}), which stay in the DLQ"
        )
    return progress


async def discard_chosen(
    settings: Settings,
    spec: QueueSpec,
    selection: Selection,
    store: EventStore,
    console: Console,
    *,
    reason: str,
    actor: str,
) -> int:
    refuse_discarding_everything(selection)
    async with opened(settings, spec) as queue:
        chosen = await queue.chosen(selection)
        discarded = await queue.discard(chosen, recorder(store, queue.name, reason, actor))
    console.print(
        f"discarded {discarded} messages from {queue.name}, each recorded with the reason"
    )
    return discarded


async def _follow(
    console: Console, label: str, progress: moves.Progress, running: asyncio.Future[moves.Progress]
) -> None:
    """Wait for the redrive, drawing its progress bar on a terminal."""
    if not console.is_terminal:
        await running
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task(label, total=progress.total)
        while not running.done():
            bar.update(task, completed=progress.moved, total=progress.total)
            await asyncio.wait({running}, timeout=PROGRESS_POLL_S)
        bar.update(task, completed=progress.moved, total=progress.total)
    await running


def refuse_discarding_everything(selection: Selection) -> None:
    if selection.everything:
        raise OperatorError("discard takes --group or --message: it never empties a DLQ blindly")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")
