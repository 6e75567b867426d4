"""Refusals from memory: given only while the database would refuse too, and forgotten after."""

from __future__ import annotations

import pytest

from shared.auth import empty_buckets
from shared.auth.empty_buckets import EmptyBuckets
from shared.auth.token_bucket import BucketPolicy, Outcome, take

POLICY = BucketPolicy("calendars", per_minute=7, burst=2)
AS_OF_MS = 1_800_000_000_000


@pytest.mark.parametrize("tokens", [0.0, 0.3, 0.999])
def test_a_refusal_is_repeated_exactly_while_the_bucket_has_no_token(tokens: float) -> None:
    empty = EmptyBuckets()
    empty.note("alice", POLICY, Outcome(granted=False, tokens=tokens), AS_OF_MS)

    elapsed_ms = 0
    while (known := empty.refusal("alice", POLICY, AS_OF_MS + elapsed_ms)) is not None:
        assert known == take(tokens, elapsed_ms, POLICY)
        elapsed_ms += 37
    # asked again no later than a token is due
    assert take(tokens, elapsed_ms + 1, POLICY).granted


def test_a_grant_and_another_key_are_asked_of_the_database() -> None:
    empty = EmptyBuckets()
    empty.note("alice", POLICY, Outcome(granted=True, tokens=0.0), AS_OF_MS)
    empty.note("bob", POLICY, Outcome(granted=False, tokens=0.0), AS_OF_MS)

    assert empty.refusal("alice", POLICY, AS_OF_MS) is None
    assert empty.refusal("carol", POLICY, AS_OF_MS) is None


def test_refusals_past_due_are_swept_so_memory_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(empty_buckets, "SWEEP_AFTER_ENTRIES", 3)
    empty = EmptyBuckets()
    refused = Outcome(granted=False, tokens=0.0)
    for at_ms, key in enumerate(["a", "b", "c"]):
        empty.note(key, POLICY, refused, AS_OF_MS + at_ms)

    # ten minutes on, all three are due; the next refusal sweeps them
    empty.note("d", POLICY, refused, AS_OF_MS + 600_000)

    assert len(empty) == 1
