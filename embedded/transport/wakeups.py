"""Wake-ups: a receive that waits returns as soon as its queue gets a message, whichever process
of those sharing the transport file sent it (shared/neighbours.py carries them across processes)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from pathlib import Path

from shared.neighbours import Neighbours


class Wakeups:
    """Waiters per queue name; safe across event loops and threads of one process. With a
    `wake_folder`, sends also wake the other processes listed there, and they wake this one."""

    def __init__(self, wake_folder: Path | None = None) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._lock = threading.Lock()
        self._neighbours = (
            None if wake_folder is None else Neighbours(wake_folder, self.notify_here)
        )

    def register(self, queue: str) -> asyncio.Future[None]:
        """Register before looking at the queue, so a send in between is not missed."""
        if self._neighbours is not None:
            self._neighbours.listen()
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
        """Wake the receives waiting on `queues`, here and in the other processes."""
        names = list(queues)
        self.notify_here(names)
        if self._neighbours is not None:
            self._neighbours.tell(names)

    def notify_here(self, queues: Iterable[str]) -> None:
        with self._lock:
            woken = [waiter for queue in queues for waiter in self._waiters.pop(queue, ())]
        running = _running_loop()
        for waiter in woken:
            loop = waiter.get_loop()
            if loop is running:
                _resolve(waiter)
                continue
            # a waiter of a loop that has closed since wants nothing any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, waiter)

    def close(self) -> None:
        if self._neighbours is not None:
            self._neighbours.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
