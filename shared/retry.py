"""Wait at start for a dependency that is not there yet, instead of exiting at once."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0


async def wait_for(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    is_transient: Callable[[BaseException], bool],
    first_delay_s: float = FIRST_DELAY_S,
    max_delay_s: float = MAX_DELAY_S,
) -> T:
    """Call `attempt` until it succeeds, sleeping a capped, jittered, doubling delay between.

    :param what: names the dependency in the log line of each failed attempt (no secrets)
    :param is_transient: whether an error is worth waiting out; any other error is raised
    """
    delay_s = first_delay_s
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt()
        except Exception as exc:
            if not is_transient(exc):
                logger.error("cannot use %s: %s", what, describe(exc))
                raise
            pause_s = delay_s * random.uniform(0.5, 1.0)
            logger.warning(
                "waiting for %s (attempt %d failed, next in %.1f s): %s",
                what,
                attempts,
                pause_s,
                describe(exc),
            )
        # cancellable: SIGTERM during the wait stops the process like any other startup step
        await asyncio.sleep(pause_s)
        delay_s = min(delay_s * 2, max_delay_s)


def describe(exc: BaseException) -> str:
    """The error's type and first line (SQLAlchemy appends SQL and a help link below it)."""
    first_line = str(exc).strip().split("\n", 1)[0]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
