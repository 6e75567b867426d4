"""One computation at a time, shared by every caller that asks while it runs, and its result kept
for a few seconds: however many open the operations page, its probes run once per few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedResult(Generic[T]):
    """The last result of `compute`, fresh for `fresh_s` seconds after it was made.

    A caller that finds no fresh result starts the computation, or joins the one running; a
    caller that gives up (its client went away) leaves it running for the others. A failure
    reaches every caller waiting for it and is not kept.
    """

    def __init__(self, fresh_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fresh_s = fresh_s
        self._clock = clock
        self._result: tuple[float, T] | None = None
        self._running: asyncio.Task[T] | None = None

    async def get(self, compute: Callable[[], Awaitable[T]]) -> T:
        if self._result is not None:
            made_at, result = self._result
            if self._clock() - made_at < self._fresh_s:
                return result
        if self._running is None:
            self._running = asyncio.ensure_future(self._run(compute))
            # looked at here, so a failure whose callers all gave up is no 'never retrieved' warning
            self._running.add_done_callback(_look_at_outcome)
        return await asyncio.shield(self._running)

    async def close(self) -> None:
        """Stop a computation still running (the app is shutting down)."""
        running, self._running = self._running, None
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    async def _run(self, compute: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await compute()
            self._result = (self._clock(), result)
            return result
        finally:
            if self._running is asyncio.current_task():
                self._running = None


def _look_at_outcome(task: asyncio.Task[T]) -> None:
    if not task.cancelled():
        task.exception()
