"""Waiting for asynchronous outcomes without fixed sleeps: poll a condition, bounded in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.1
) -> None:
    """Return once `condition()` holds; raise TimeoutError after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await condition():
                return
            await asyncio.sleep(interval_s)
