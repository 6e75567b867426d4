"""The buckets this process found without a whole token, refused here until their next one is due.

Only time puts tokens into a bucket, and every process takes them out: a bucket found short of a
token stays short of one until it has refilled, whatever the other processes do. Refusing it
from memory until then answers as the database would, without a write per refused request, so a
principal flooding past its limit costs the database nothing and the others less.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

from shared.auth.token_bucket import GRANT_TOLERANCE, BucketPolicy, Outcome, refilled

# entries are dropped once due; past this many, the due ones are swept at the next refusal
SWEEP_AFTER_ENTRIES = 10_000


@dataclass(frozen=True)
class _Empty:
    tokens: float
    at_ms: int
    due_ms: int


class EmptyBuckets:
    """Refusals known in this process, by bucket key."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Empty] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def refusal(self, key: Hashable, policy: BucketPolicy, now_ms: int) -> Outcome | None:
        """The refusal the database would give now, or None when it must be asked."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now_ms >= entry.due_ms:
            del self._entries[key]
            return None
        return Outcome(granted=False, tokens=refilled(entry.tokens, now_ms - entry.at_ms, policy))

    def due_in_ms(self, key: Hashable, now_ms: int) -> int:
        """How long `key`'s bucket is known to stay short of a token from `now_ms` (0: not known
        to be)."""
        entry = self._entries.get(key)
        return 0 if entry is None else max(0, entry.due_ms - now_ms)

    def note(self, key: Hashable, policy: BucketPolicy, outcome: Outcome, as_of_ms: int) -> None:
        """Remember a refusal the database gave: `outcome.tokens` as of `as_of_ms`, the time its
        row says it was refilled to."""
        if outcome.granted:
            return
        if len(self._entries) >= SWEEP_AFTER_ENTRIES:
            self._entries = {k: e for k, e in self._entries.items() if e.due_ms > as_of_ms}
        missing = 1 - GRANT_TOLERANCE - outcome.tokens
        # rounded down: the database is asked again a little early rather than late
        due_ms = as_of_ms + math.floor(missing / policy.tokens_per_ms)
        self._entries[key] = _Empty(outcome.tokens, as_of_ms, due_ms)
