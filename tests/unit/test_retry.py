"""The one backoff formula: doubling from the base, capped, jittered within the upper half."""

from __future__ import annotations

import pytest

from shared.retry import backoff_delay, jittered

DRAWS = 200


class TestBackoffDelay:
    def test_the_first_attempt_waits_the_base(self) -> None:
        assert backoff_delay(1, base_s=0.25, cap_s=15.0, jitter=False) == 0.25

    def test_doubles_for_each_attempt_up_to_the_cap(self) -> None:
        ceilings_s = [backoff_delay(n, base_s=0.1, cap_s=5.0, jitter=False) for n in range(1, 10)]

        assert ceilings_s == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])

    def test_a_cap_below_the_base_wins(self) -> None:
        assert backoff_delay(1, base_s=0.25, cap_s=0.1, jitter=False) == 0.1

    def test_an_attempt_below_one_counts_as_the_first(self) -> None:
        assert backoff_delay(0, base_s=2.0, cap_s=300.0, jitter=False) == 2.0

    def test_an_endless_run_of_failures_stays_at_the_cap(self) -> None:
        assert backoff_delay(100_000, base_s=2.0, cap_s=300.0, jitter=False) == 300.0

    @pytest.mark.parametrize("attempt", [1, 3, 12])
    def test_jitter_draws_from_the_upper_half_of_the_ceiling(self, attempt: int) -> None:
        ceiling_s = backoff_delay(attempt, base_s=1.0, cap_s=30.0, jitter=False)

        draws = [backoff_delay(attempt, base_s=1.0, cap_s=30.0) for _ in range(DRAWS)]

        assert all(ceiling_s / 2 <= draw <= ceiling_s for draw in draws)
        # spread over the range, not one value: processes that failed together come back apart
        assert min(draws) < ceiling_s * 0.6
        assert max(draws) > ceiling_s * 0.9

    def test_jittered_pauses_still_grow(self) -> None:
        pauses_s = [backoff_delay(n, base_s=1.0, cap_s=1000.0) for n in range(1, 8)]

        # each ceiling is twice the one before, so each draw is at least the previous one
        assert pauses_s == sorted(pauses_s)


class TestJittered:
    def test_stays_within_the_upper_half(self) -> None:
        draws = [jittered(8.0) for _ in range(DRAWS)]

        assert all(4.0 <= draw <= 8.0 for draw in draws)
        assert len(set(draws)) > 1
