"""Token-bucket arithmetic, pure: how full a bucket is after a while, whether a request may take
a token, and when the next one comes.

A bucket holds at most `burst` tokens and gains `per_minute` of them a minute, continuously; a
request takes one or is refused. Time is in whole milliseconds, so the time between two checks
is exact; tokens are fractions. `rate_buckets.py` runs the same steps in one SQL statement, and
its tests hold it to these functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MS_PER_MINUTE = 60_000
# a bucket this close to a whole token holds one: float rounding of the refill, never credit
GRANT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class BucketPolicy:
    """One limit: its name in the RateLimit headers, its rate and its burst (both >= 1)."""

    name: str
    per_minute: int
    burst: int

    @property
    def tokens_per_ms(self) -> float:
        return self.per_minute / MS_PER_MINUTE

    @property
    def window_s(self) -> int:
        """Seconds an empty bucket takes to fill: the window its `burst` requests are quota of."""
        return math.ceil(self.burst * 60 / self.per_minute)


@dataclass(frozen=True)
class Outcome:
    """What a check did: whether it took a token, and the tokens left after it."""

    granted: bool
    tokens: float


def refilled(tokens: float, elapsed_ms: int, policy: BucketPolicy) -> float:
    """The bucket after `elapsed_ms` (a clock that went back adds nothing), at most full."""
    return min(float(policy.burst), tokens + max(0, elapsed_ms) * policy.tokens_per_ms)


def take(tokens: float, elapsed_ms: int, policy: BucketPolicy) -> Outcome:
    """Refill, then take one token if a whole one is there."""
    now = refilled(tokens, elapsed_ms, policy)
    if now >= 1 - GRANT_TOLERANCE:
        return Outcome(granted=True, tokens=now - 1)
    return Outcome(granted=False, tokens=now)


def first_take(policy: BucketPolicy) -> Outcome:
    """A principal's first request: a full bucket, less the token it takes."""
    return Outcome(granted=True, tokens=policy.burst - 1.0)


def remaining(outcome: Outcome) -> int:
    """Whole requests the bucket would let through now."""
    return max(0, math.floor(outcome.tokens + GRANT_TOLERANCE))


def retry_after_s(outcome: Outcome, policy: BucketPolicy) -> int:
    """Whole seconds until a whole token is there (at least 1: a refused request waits)."""
    return max(1, _seconds_until(1.0 - outcome.tokens, policy))


def full_after_s(outcome: Outcome, policy: BucketPolicy) -> int:
    """Whole seconds until the bucket is full again: when its quota has fully reset."""
    return _seconds_until(policy.burst - outcome.tokens, policy)


def _seconds_until(missing_tokens: float, policy: BucketPolicy) -> int:
    if missing_tokens <= GRANT_TOLERANCE:
        return 0
    return math.ceil(missing_tokens / policy.tokens_per_ms / 1000)
