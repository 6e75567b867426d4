"""Keeping an operator's stream of sends to a rate: republished events, redriven messages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pace:
    """Keep to at most `per_s` items a second (None: as fast as possible)."""

    def __init__(self, per_s: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_s, self._clock = per_s, clock
        self._started = clock()
        self._count = 0

    def wait_s(self, count: int) -> float:
        """How long to wait before `count` more may go, and count them."""
        wait = 0.0
        if self._per_s is not None:
            wait = max(0.0, self._started + self._count / self._per_s - self._clock())
        self._count += count
        return wait

    async def admit(self, count: int) -> None:
        await asyncio.sleep(self.wait_s(count))
