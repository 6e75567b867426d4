"""The token-bucket arithmetic: refill by elapsed time, the burst as a cap, honest waits, and the
RateLimit headers and settings made of it."""

from __future__ import annotations

import pytest

from services.todo_api.rate_limits import limit_headers, policies
from shared.auth.token_bucket import (
    BucketPolicy,
    Outcome,
    first_take,
    full_after_s,
    refilled,
    remaining,
    retry_after_s,
    take,
)
from shared.settings import RATE_LIMIT_DEFAULTS, Settings

# a token a second, ten at once
POLICY = BucketPolicy("writes", per_minute=60, burst=10)


class TestRefill:
    def test_a_bucket_gains_its_rate_over_the_time_elapsed(self) -> None:
        assert refilled(2.0, 1500, POLICY) == pytest.approx(3.5)

    def test_a_bucket_never_holds_more_than_its_burst(self) -> None:
        assert refilled(9.0, 3_600_000, POLICY) == 10.0

    def test_a_clock_that_went_back_adds_nothing(self) -> None:
        assert refilled(2.0, -5000, POLICY) == 2.0


class TestTake:
    def test_the_first_request_finds_a_full_bucket_and_takes_one(self) -> None:
        assert first_take(POLICY) == Outcome(granted=True, tokens=9.0)

    def test_a_whole_token_is_taken(self) -> None:
        outcome = take(0.5, 500, POLICY)
        assert outcome.granted
        assert outcome.tokens == pytest.approx(0.0)

    def test_less_than_a_token_is_refused_and_kept(self) -> None:
        outcome = take(0.25, 500, POLICY)
        assert not outcome.granted
        assert outcome.tokens == pytest.approx(0.75)

    def test_the_burst_passes_at_once_and_then_no_more(self) -> None:
        outcome = first_take(POLICY)
        granted = 1
        while (outcome := take(outcome.tokens, 0, POLICY)).granted:
            granted += 1
        assert granted == POLICY.burst


class TestWaits:
    @pytest.mark.parametrize(
        ("per_minute", "tokens"), [(60, 0.0), (60, 0.5), (1, 0.0), (7, 0.3), (1000, 0.999)]
    )
    def test_after_retry_after_a_request_passes_and_a_second_sooner_it_would_not(
        self, per_minute: int, tokens: float
    ) -> None:
        policy = BucketPolicy("calendars", per_minute=per_minute, burst=3)
        refused = Outcome(granted=False, tokens=tokens)
        wait_s = retry_after_s(refused, policy)

        assert take(tokens, wait_s * 1000, policy).granted
        assert wait_s == 1 or not take(tokens, (wait_s - 1) * 1000, policy).granted

    def test_retry_after_is_never_less_than_a_second(self) -> None:
        assert retry_after_s(Outcome(granted=False, tokens=0.9999), POLICY) == 1

    def test_a_bucket_is_full_again_after_the_missing_tokens_arrive(self) -> None:
        assert full_after_s(Outcome(granted=True, tokens=6.5), POLICY) == 4
        assert full_after_s(Outcome(granted=True, tokens=10.0), POLICY) == 0

    def test_only_whole_tokens_remain(self) -> None:
        assert remaining(Outcome(granted=True, tokens=2.7)) == 2
        assert remaining(Outcome(granted=False, tokens=0.4)) == 0

    def test_the_window_is_the_time_an_empty_bucket_takes_to_fill(self) -> None:
        assert POLICY.window_s == 10
        assert BucketPolicy("writes", per_minute=120, burst=120).window_s == 60


class TestHeaders:
    def test_they_are_the_drafts_structured_fields(self) -> None:
        headers = limit_headers(POLICY, Outcome(granted=True, tokens=6.5))

        assert headers == {
            "RateLimit-Policy": '"writes";q=10;w=10',
            "RateLimit": '"writes";r=6;t=4',
        }


class TestSettings:
    def test_without_credentials_nothing_is_limited_unless_asked(self) -> None:
        assert policies(Settings(auth_mode="none")) == {}
        asked = Settings(auth_mode="none", rate_limit_writes_per_minute=5)
        assert policies(asked) == {"writes": BucketPolicy("writes", 5, 5)}

    def test_with_credentials_the_defaults_hold_with_a_minutes_burst(self) -> None:
        assert policies(Settings(auth_mode="required")) == {
            name: BucketPolicy(name, rate, rate) for name, rate in RATE_LIMIT_DEFAULTS.items()
        }

    def test_a_rate_of_0_is_no_limit_and_a_burst_may_be_set(self) -> None:
        settings = Settings(
            auth_mode="required",
            rate_limit_writes_per_minute=0,
            rate_limit_calendars_per_minute=2,
            rate_limit_calendars_burst=5,
        )
        assert policies(settings) == {"calendars": BucketPolicy("calendars", 2, 5)}
