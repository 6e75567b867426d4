"""One DLQ as operators work on it: its letters and groups, and the moves and discards of a
selection (a group, some messages, or all of them). The page and the command line both call
this, so they choose, move and discard alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.contracts.topology import QUEUES, Names, QueueSpec
from shared.messaging.dead_letters import queue_calls
from shared.messaging.dead_letters.discards import Record, discard_chosen
from shared.messaging.dead_letters.grouping import DeadLetter, Group, group
from shared.messaging.dead_letters.moves import (
    MOVE_HIDE_S,
    MoveTaskUnsupportedError,
    Progress,
    Queues,
    move_chosen,
    whole_queue,
)


class NothingChosenError(LookupError):
    """The selection names no message the DLQ holds (now)."""


class UnknownQueueError(LookupError):
    """No queue of the topology has a DLQ of this name."""


@dataclass(frozen=True)
class Selection:
    """A group's messages, or some messages by id, or (neither given) every message."""

    group_id: str | None = None
    message_ids: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return self.group_id is None and not self.message_ids


def queue_spec(dlq_name: str, names: Names) -> QueueSpec:
    for spec in QUEUES:
        if names.dlq(spec) == dlq_name:
            return spec
    known = ", ".join(names.dlq(spec) for spec in QUEUES)
    raise UnknownQueueError(f"no DLQ named {dlq_name!r} (these are: {known})")


class DeadLetterQueue:
    def __init__(self, sqs: Any, spec: QueueSpec, names: Names, *, hide_s: int = MOVE_HIDE_S):
        self._sqs = sqs
        self.name, self.source = names.dlq(spec), names.queue(spec)
        self._hide_s = hide_s

    async def letters(self) -> list[DeadLetter]:
        return await queue_calls.peek(self._sqs, await self._dlq_url())

    async def groups(self) -> list[Group]:
        return group(await self.letters())

    async def find(self, message_id: str) -> DeadLetter | None:
        return next((one for one in await self.letters() if one.message_id == message_id), None)

    async def chosen(self, selection: Selection) -> set[str]:
        """The ids of the messages the selection names among those the DLQ holds now."""
        letters = await self.letters()
        found = {
            letter.message_id
            for letter in letters
            if selection.everything
            or letter.group_id == selection.group_id
            or letter.message_id in selection.message_ids
        }
        if not found:
            raise NothingChosenError(f"{self.name} holds no message of this selection")
        return found

    async def redrive(
        self,
        chosen: set[str],
        progress: Progress,
        *,
        rate: float | None = None,
        whole: bool = False,
        move_task: bool | None = None,
    ) -> Progress:
        """Move `chosen` back; with `whole`, the whole DLQ, by a move task where the broker has
        one (`move_task` None), always (True: MoveTaskUnsupportedError where it has none) or
        never (False: in batches)."""
        queues = Queues(await queue_calls.queue_url(self._sqs, self.source), await self._dlq_url())
        _, progress.out_of_sight = await queue_calls.depth(self._sqs, queues.dlq_url)
        if whole and move_task is not False:
            try:
                return await whole_queue(self._sqs, queues, progress, rate=rate)
            except MoveTaskUnsupportedError:
                if move_task:
                    raise
        return await move_chosen(
            self._sqs,
            queues,
            None if whole else chosen,
            progress,
            rate=rate,
            hide_s=self._hide_s,
        )

    async def discard(self, chosen: set[str], record: Record) -> int:
        return await discard_chosen(
            self._sqs, await self._dlq_url(), chosen, record, hide_s=self._hide_s
        )

    async def _dlq_url(self) -> str:
        return await queue_calls.queue_url(self._sqs, self.name)
