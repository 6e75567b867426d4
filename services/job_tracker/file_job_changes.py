"""The job changes port on a SQLite file that several processes open: `make run` folds jobs in
the tracker's process and answers status polls and event streams from todo_api's, on the same
file (embedded/hosting.py).

A commit wakes this process's watchers, then tells every other process listening on the file
which jobs changed (shared/neighbours.py: one loopback datagram each, no wait). Each datagram
carries the sender's count of them; a listener that sees a count skipped (a datagram lost to a
full buffer) wakes all its watchers, who read their rows again. A datagram lost with nothing
after it costs at most one keep-alive interval of the stream (job_events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Collection, Iterable
from pathlib import Path
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from services.job_tracker.job_changes import Wakeup, Watchers
from shared.neighbours import Neighbours, wake_folder

# the name in each datagram that says who sent it and how many it has sent: "#<pid>:<count>"
COUNT_MARK = "#"


class FileJobChanges:
    """Changes heard by every process that opens one SQLite file with this adapter."""

    notify_channel = None

    def __init__(self, database_file: Path) -> None:
        self._watchers = Watchers()
        self._loop = asyncio.get_running_loop()
        self._sent = 0
        self._heard: dict[str, int] = {}
        self._neighbours = Neighbours(wake_folder(database_file), self._on_told)
        # before any watcher reads its row: a change committed after that read is heard
        self._neighbours.listen()

    async def changed_in(self, conn: AsyncConnection, task_ids: Collection[UUID]) -> None:
        # nothing is said before the commit: a rolled-back fold changed nothing
        return None

    def committed(self, task_ids: Collection[UUID]) -> None:
        for task_id in task_ids:
            self._watchers.wake(task_id)
        self._sent += 1
        count = f"{COUNT_MARK}{os.getpid()}:{self._sent}"
        self._neighbours.tell([count, *(str(task_id) for task_id in task_ids)])

    def watching(self, task_id: UUID) -> contextlib.AbstractContextManager[Wakeup]:
        return self._watchers.watching(task_id)

    def end_all(self) -> None:
        self._watchers.end_all()

    def close(self) -> None:
        self._neighbours.close()

    def _on_told(self, names: list[str]) -> None:
        # on the loop that listened: the watchers'
        self.hear(names)

    def hear(self, names: Iterable[str]) -> None:
        """Wake the watchers of the jobs a datagram names (all of them after a lost one)."""
        task_ids = []
        for name in names:
            if name.startswith(COUNT_MARK):
                if self._skipped(name.removeprefix(COUNT_MARK)):
                    self._watchers.wake_all()
                continue
            with contextlib.suppress(ValueError):
                task_ids.append(UUID(name))
        for task_id in task_ids:
            self._watchers.wake(task_id)

    def _skipped(self, count: str) -> bool:
        """Whether a datagram of this sender was lost before this one."""
        sender, _, number = count.partition(":")
        try:
            now = int(number)
        except ValueError:
            return True
        before = self._heard.get(sender)
        self._heard[sender] = now
        # the first heard from a sender: what it said before this process listened is in the rows
        return before is not None and now != before + 1
