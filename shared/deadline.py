"""Wait at most so long for a piece of work, and not a moment longer for its cancellation.

`asyncio.timeout` waits for the cancelled work to unwind, and a database connection cancelled
half-way can spend seconds closing itself. A probe or a scrape must answer on time instead: the
work is left to unwind in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class Deadline:
    """Runs work against a deadline; keeps what overran it until it has unwound."""

    def __init__(self) -> None:
        # the event loop holds tasks weakly: an abandoned one is kept here until it ends
        self._unwinding: set[asyncio.Task[Any]] = set()

    async def run(self, work: Awaitable[T], timeout_s: float) -> T:
        """The work's result; TimeoutError at once when it takes longer than `timeout_s`."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if done:
            return task.result()
        task.cancel()
        self._unwinding.add(task)
        task.add_done_callback(self._unwound)
        raise TimeoutError(f"no answer within {timeout_s:g}s")

    def _unwound(self, task: asyncio.Task[Any]) -> None:
        self._unwinding.discard(task)
        # its outcome was given up on; reading it keeps asyncio from reporting it as lost
        if not task.cancelled():
            task.exception()
