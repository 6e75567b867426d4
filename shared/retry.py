"""Retrying: the one backoff formula every retry loop uses, and waiting at start for a dependency
that is not there yet instead of exiting at once."""

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
# past this many doublings every cap in use is reached long before; it keeps 2.0**n finite
_MOST_DOUBLINGS = 64


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, jitter: bool = True) -> float:
    """The pause after failed attempt number `attempt` (1 for the first; below 1 counts as 1).

    The ceiling is `base_s` doubled for each attempt after the first, never above `cap_s`.
    With `jitter` (the default) the pause is "equal jitter": drawn uniformly from the upper half
    of the ceiling, [ceiling / 2, ceiling]. Half keeps the pauses growing, so a dependency that is
    down still gets fewer and fewer tries; the random half spreads the retries of many processes
    that failed together, so they do not come back in step. `jitter=False` gives the ceiling
    itself, for a caller whose pauses are too short for a herd to matter, or that jitters the
    pause itself (see `jittered`).
    """
    doublings = min(max(attempt - 1, 0), _MOST_DOUBLINGS)
    ceiling_s = min(cap_s, base_s * 2.0**doublings)
    return jittered(ceiling_s) if jitter else ceiling_s


def jittered(ceiling_s: float) -> float:
    """A pause drawn uniformly from [ceiling_s / 2, ceiling_s]: the jitter of `backoff_delay`."""
    return ceiling_s * random.uniform(0.5, 1.0)


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
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt()
        except Exception as exc:
            if not is_transient(exc):
                logger.error("cannot use %s: %s", what, describe(exc))
                raise
            pause_s = backoff_delay(attempts, base_s=first_delay_s, cap_s=max_delay_s)
            logger.warning(
                "waiting for %s (attempt %d failed, next in %.1f s): %s",
                what,
                attempts,
                pause_s,
                describe(exc),
            )
        # cancellable: SIGTERM during the wait stops the process like any other startup step
        await asyncio.sleep(pause_s)


def describe(exc: BaseException) -> str:
    """The error's type and first line (SQLAlchemy appends SQL and a help link below it)."""
    first_line = str(exc).strip().split("\n", 1)[0]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
