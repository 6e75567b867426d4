"""Waiting at start for a dependency: retry what is transient, give up on the rest at once."""

from __future__ import annotations

import logging

import pytest

from shared.retry import describe, wait_for

WHAT = "PostgreSQL at db.internal:5432/app"


class FlakyDependency:
    """Fails with `errors` in turn, then answers "ready"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ready"


def transient(exc: BaseException) -> bool:
    return isinstance(exc, OSError)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "shared.retry" and r.levelname == "WARNING"]


def pause_of(record: logging.LogRecord) -> float:
    """The pause a waiting line announces, unrounded (the message shows one decimal)."""
    assert isinstance(record.args, tuple)
    pause_s = record.args[2]
    assert isinstance(pause_s, float)
    return pause_s


class TestWaitFor:
    async def test_retries_transient_errors_until_the_dependency_answers(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        flaky = FlakyDependency(ConnectionRefusedError(111, "refused"), TimeoutError())

        answer = await wait_for(flaky, what=WHAT, is_transient=transient, first_delay_s=0.001)

        assert (answer, flaky.calls) == ("ready", 3)
        lines = [r.getMessage() for r in warnings_of(caplog)]
        assert len(lines) == 2
        assert lines[0].startswith(f"waiting for {WHAT} (attempt 1 failed")
        assert lines[0].endswith("ConnectionRefusedError: [Errno 111] refused")
        assert lines[1].endswith("TimeoutError")

    async def test_raises_any_other_error_at_once_and_says_so(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        flaky = FlakyDependency(ValueError("no"), OSError("never reached"))

        with pytest.raises(ValueError, match="no"):
            await wait_for(flaky, what=WHAT, is_transient=transient, first_delay_s=0.001)

        assert flaky.calls == 1
        assert [r.getMessage() for r in caplog.records] == [f"cannot use {WHAT}: ValueError: no"]

    async def test_doubles_the_jittered_delay_up_to_the_cap(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        flaky = FlakyDependency(*(OSError("down") for _ in range(6)))

        await wait_for(
            flaky, what=WHAT, is_transient=transient, first_delay_s=0.001, max_delay_s=0.004
        )

        pauses_s = [pause_of(record) for record in warnings_of(caplog)]
        ceilings_s = [0.001, 0.002, 0.004, 0.004, 0.004, 0.004]
        assert len(pauses_s) == len(ceilings_s)
        for pause_s, ceiling_s in zip(pauses_s, ceilings_s, strict=True):
            assert ceiling_s / 2 <= pause_s <= ceiling_s


class TestDescribe:
    def test_keeps_the_first_line_only(self) -> None:
        error = RuntimeError("connection refused\n[SQL: SELECT 1]\n(Background: https://x)")

        assert describe(error) == "RuntimeError: connection refused"

    def test_names_an_error_without_a_message(self) -> None:
        assert describe(TimeoutError()) == "TimeoutError"
