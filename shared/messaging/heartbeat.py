"""Keep a received message invisible while its handler works, and stop before it is settled.

A message's visibility is renewed every third of the timeout. When the handler fails, the
consumer sets the visibility once more: to the retry's short delay, or 0 to hand the message on.
A renewal still on its way then could land after that change and undo it (the retry waits a
whole timeout instead of a second). So `stop` lets a renewal under way finish before it returns,
and the settling call goes out only after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Heartbeat:
    def __init__(self, renew: Callable[[], Awaitable[None]], interval_s: float) -> None:
        self._renew = renew
        self._interval_s = interval_s
        self._stopped = asyncio.Event()
        self._task = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        """No renewal after this returns: one under way has finished first."""
        self._stopped.set()
        # waited for, never cancelled from here: a renewal cut off mid-request may still land
        await asyncio.wait({self._task})

    def cancel(self) -> None:
        """Stop renewing without waiting: the message is deleted, or the consumer is going."""
        self._stopped.set()
        self._task.cancel()

    async def _beat(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval_s)
                return
            # a failed renewal is tried again at the next beat; the handler goes on meanwhile
            with contextlib.suppress(Exception):
                await self._renew()
