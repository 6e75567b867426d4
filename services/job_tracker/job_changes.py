"""The job changes port: a fold tells it which job's row it changed, an event stream waits on it
for the next change of its job.

A change is only a wake-up: the watcher reads the row again, which is the one truth, so a lost
or doubled wake-up costs a read at most, never a wrong state. Three adapters answer it:
`file_job_changes.FileJobChanges` (a SQLite file, every process that opens it: woken after the
commit here, told by loopback datagram there), `InProcessJobChanges` (a SQLite database in
memory, one process) and `pg_job_changes.PgJobChanges` (PostgreSQL, any number of replicas:
`pg_notify` in the fold's transaction, so it is sent only on commit, heard by each process's
listener connection).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterator
from typing import Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection


class JobChanges(Protocol):
    @property
    def notify_channel(self) -> str | None:
        """The PostgreSQL channel a fold's statement notifies of each job row it writes
        (`pg_fold.py`), a round trip fewer; None: `changed_in` is told of every change."""
        ...

    async def changed_in(self, conn: AsyncConnection, task_ids: Collection[UUID]) -> None:
        """Called once inside the transaction that changed the jobs' rows, last before it
        commits, with those its statements did not notify on `notify_channel`."""
        ...

    def committed(self, task_ids: Collection[UUID]) -> None:
        """Called once that transaction committed, with the jobs it changed."""
        ...

    def watching(self, task_id: UUID) -> contextlib.AbstractContextManager[Wakeup]:
        """A wake-up for each change of the job committed while the block runs, by any process
        the adapter hears."""
        ...

    def end_all(self) -> None:
        """Wake every watcher for good (the process is shutting down)."""
        ...


class Wakeup:
    """One watcher's flag: set by a change of its job (or by the end), cleared as it reads."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.ended = False

    def wake(self) -> None:
        self._event.set()

    def end(self) -> None:
        self.ended = True
        self._event.set()

    async def wait(self, timeout_s: float) -> bool:
        """True when woken within `timeout_s` (the flag is cleared), False when the time ran out."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True


class Watchers:
    """The wake-ups of this process, by job: what both adapters deliver a change to."""

    def __init__(self) -> None:
        self._by_job: dict[UUID, set[Wakeup]] = {}
        self._ended = False

    @contextlib.contextmanager
    def watching(self, task_id: UUID) -> Iterator[Wakeup]:
        wakeup = Wakeup()
        if self._ended:
            wakeup.end()
        watchers = self._by_job.setdefault(task_id, set())
        watchers.add(wakeup)
        try:
            yield wakeup
        finally:
            watchers.discard(wakeup)
            if not watchers:
                del self._by_job[task_id]

    def wake(self, task_id: UUID) -> None:
        for wakeup in self._by_job.get(task_id, ()):
            wakeup.wake()

    def wake_all(self) -> None:
        """After changes may have gone unheard (a listener reconnected): everyone reads again."""
        for watchers in self._by_job.values():
            for wakeup in watchers:
                wakeup.wake()

    def end_all(self) -> None:
        self._ended = True
        for watchers in self._by_job.values():
            for wakeup in watchers:
                wakeup.end()

    def __len__(self) -> int:
        return sum(len(watchers) for watchers in self._by_job.values())


class InProcessJobChanges:
    """Changes heard in this process only: the one writer of a SQLite file is in it."""

    notify_channel = None

    def __init__(self) -> None:
        self._watchers = Watchers()

    async def changed_in(self, conn: AsyncConnection, task_ids: Collection[UUID]) -> None:
        # nothing is said before the commit: a rolled-back fold changed nothing
        return None

    def committed(self, task_ids: Collection[UUID]) -> None:
        for task_id in task_ids:
            self._watchers.wake(task_id)

    def watching(self, task_id: UUID) -> contextlib.AbstractContextManager[Wakeup]:
        return self._watchers.watching(task_id)

    def end_all(self) -> None:
        self._watchers.end_all()
