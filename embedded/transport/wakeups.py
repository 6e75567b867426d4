"""In-process wake-ups: a receive that waits returns as soon as its queue gets a message."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable


class Wakeups:
    """Waiters per queue name; safe across event loops and threads of one process."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._lock = threading.Lock()

    def register(self, queue: str) -> asyncio.Future[None]:
        """Register before looking at the queue, so a send in between is not missed."""
        waiter = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.setdefault(queue, set()).add(waiter)
        return waiter

    def discard(self, queue: str, waiter: asyncio.Future[None]) -> None:
        with self._lock:
            self._waiters.get(queue, set()).discard(waiter)

    async def wait(self, waiter: asyncio.Future[None], timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, timeout_s)

    def notify(self, queues: Iterable[str]) -> None:
        with self._lock:
            woken = [waiter for queue in queues for waiter in self._waiters.pop(queue, ())]
        for waiter in woken:
            # a waiter of a loop that has closed since wants nothing any more
            with contextlib.suppress(RuntimeError):
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
