"""The redrives the operations page started in this instance, run in the background, with the
progress the page polls. A redrive belongs to the instance that runs it: under several
instances, its progress is answered by that one (the DLQ's depth tells the others)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from shared.clock import utcnow
from shared.contracts.dead_letters import RedriveState
from shared.messaging.dead_letters.dead_letter_queue import DeadLetterQueue
from shared.messaging.dead_letters.moves import Progress

logger = logging.getLogger(__name__)
# the finished redrives kept for the page, newest first
KEPT_FINISHED = 20


@dataclass
class Run:
    redrive_id: str
    queue: str
    group_id: str | None
    rate: float
    progress: Progress
    started_at: datetime
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    failed: str | None = None

    def state(self) -> RedriveState:
        running = self.task is not None and not self.task.done()
        return RedriveState(
            redrive_id=self.redrive_id,
            queue=self.queue,
            group_id=self.group_id,
            rate=self.rate,
            total=self.progress.total,
            moved=self.progress.moved,
            refused=len(self.progress.refused),
            missing=self.progress.missing,
            out_of_sight=self.progress.out_of_sight,
            state="running" if running else ("failed" if self.failed else "finished"),
            error=self.failed,
            started_at=self.started_at,
        )


class RedriveRuns:
    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}

    def start(
        self, queue: DeadLetterQueue, chosen: set[str], *, rate: float, group_id: str | None
    ) -> Run:
        run = Run(uuid.uuid4().hex, queue.name, group_id, rate, Progress(len(chosen)), utcnow())
        run.task = asyncio.create_task(
            self._run(run, queue, chosen), name=f"redrive-{run.redrive_id}"
        )
        self._runs[run.redrive_id] = run
        self._forget_old()
        return run

    def states(self) -> list[RedriveState]:
        return [run.state() for run in reversed(self._runs.values())]

    async def close(self) -> None:
        """Stop what runs (a message sent but not deleted returns to its DLQ for the next)."""
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, run: Run, queue: DeadLetterQueue, chosen: set[str]) -> None:
        try:
            await queue.redrive(chosen, run.progress, rate=run.rate)
        except Exception:
            logger.exception("redrive %s of %s failed", run.redrive_id, run.queue)
            run.failed = "stopped by an error (see the log); run it again to move the rest"

    def _forget_old(self) -> None:
        finished = [key for key, run in self._runs.items() if run.task and run.task.done()]
        for key in finished[: max(0, len(finished) - KEPT_FINISHED)]:
            del self._runs[key]


redrive_runs_key = web.AppKey("redrive_runs", RedriveRuns)


async def redrive_runs_ctx(app: web.Application) -> AsyncIterator[None]:
    runs = RedriveRuns()
    app[redrive_runs_key] = runs
    yield
    await runs.close()
