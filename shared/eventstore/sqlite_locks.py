"""Waiting for another connection's SQLite write lock without holding up the event loop.

SQLite's own busy timeout waits by sleeping in the calling thread: for statements run on the
event loop that stops every task of the process. Connections opened here get no busy timeout;
SQLITE_BUSY comes back at once, and the caller pauses on the loop (asyncio.sleep) and tries
again, for as long as the busy timeout would have waited.

Where BUSY can come back, in WAL mode: where a transaction takes the write lock (a `BEGIN
IMMEDIATE`, or the first write of a deferred transaction), and, rarely, where a read starts while
another connection recovers the WAL. A transaction that holds the write lock meets no other
writer, and its COMMIT needs no further lock. So an attempt is tried again only when it failed
holding nothing; see `shared/eventstore/sqlite_on_loop.py` and `embedded/transport/database.py`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from shared.retry import backoff_delay

T = TypeVar("T")

# the first pause after a refusal, doubled after each one up to the longest
FIRST_PAUSE_S = 0.001
LONGEST_PAUSE_S = 0.05


def is_busy(exc: BaseException) -> bool:
    """Whether SQLite refused because another connection holds a lock it needs."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    # the primary code, without the extended part (BUSY_RECOVERY, BUSY_SNAPSHOT, ...)
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


class LockWait:
    """The pauses between attempts refused as busy, within a patience counted from the first."""

    def __init__(self, patience_s: float) -> None:
        self._patience_s = patience_s
        self._deadline: float | None = None
        self._pauses = 0

    def has_patience(self) -> bool:
        """Call after a refusal: False once the patience is used up (give the error back)."""
        now = asyncio.get_running_loop().time()
        if self._deadline is None:
            self._deadline = now + self._patience_s
        return now < self._deadline

    async def pause(self) -> None:
        """Let the loop run the other tasks for a while, no further than the deadline."""
        assert self._deadline is not None, "pause only after has_patience"
        remaining_s = self._deadline - asyncio.get_running_loop().time()
        self._pauses += 1
        # no jitter: pauses of milliseconds between connections of one process make no herd
        pause_s = backoff_delay(
            self._pauses, base_s=FIRST_PAUSE_S, cap_s=LONGEST_PAUSE_S, jitter=False
        )
        await asyncio.sleep(max(0.0, min(pause_s, remaining_s)))


async def waiting(
    attempt: Callable[[], T], patience_s: float, *, retryable: Callable[[], bool] = lambda: True
) -> T:
    """Run `attempt`; while it is refused as busy and `retryable()` says the refused attempt left
    nothing behind, pause on the loop and run it again, for up to `patience_s`."""
    wait = LockWait(patience_s)
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not (is_busy(exc) and retryable() and wait.has_patience()):
                raise
        await wait.pause()
