"""One computation shared by every caller that asks while it runs, and kept for a few seconds."""

from __future__ import annotations

import asyncio

import pytest

from services.todo_api.shared_result import SharedResult

FRESH_S = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Computation:
    """Counts its runs; each run waits for `release` and answers its run number."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    def hold(self) -> None:
        self.release.clear()

    async def __call__(self) -> int:
        self.runs += 1
        self.started.set()
        await self.release.wait()
        return self.runs


async def test_callers_that_ask_while_it_runs_share_one_computation() -> None:
    shared: SharedResult[int] = SharedResult(FRESH_S, clock=Clock())
    compute = Computation()
    compute.hold()

    callers = [asyncio.create_task(shared.get(compute)) for _ in range(5)]
    await compute.started.wait()
    compute.release.set()

    assert await asyncio.gather(*callers) == [1] * 5
    assert compute.runs == 1


async def test_a_result_is_kept_for_its_fresh_time_then_computed_again() -> None:
    clock = Clock()
    shared: SharedResult[int] = SharedResult(FRESH_S, clock=clock)
    compute = Computation()

    first = await shared.get(compute)
    clock.now += FRESH_S - 0.01
    kept = await shared.get(compute)
    clock.now += 0.01
    renewed = await shared.get(compute)

    assert (first, kept, renewed) == (1, 1, 2)


async def test_a_failure_reaches_every_waiting_caller_and_is_not_kept() -> None:
    shared: SharedResult[int] = SharedResult(FRESH_S, clock=Clock())
    started, release = asyncio.Event(), asyncio.Event()

    async def failing() -> int:
        started.set()
        await release.wait()
        raise RuntimeError("broken")

    callers = [asyncio.create_task(shared.get(failing)) for _ in range(3)]
    await started.wait()
    release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)

    assert [type(outcome) for outcome in outcomes] == [RuntimeError] * 3
    assert await shared.get(Computation()) == 1


async def test_a_caller_that_gives_up_leaves_the_computation_to_the_others() -> None:
    shared: SharedResult[int] = SharedResult(FRESH_S, clock=Clock())
    compute = Computation()
    compute.hold()
    leaving = asyncio.create_task(shared.get(compute))
    staying = asyncio.create_task(shared.get(compute))
    await compute.started.wait()

    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    compute.release.set()

    assert await staying == 1
    assert compute.runs == 1


async def test_closing_stops_a_computation_still_running() -> None:
    shared: SharedResult[int] = SharedResult(FRESH_S, clock=Clock())
    compute = Computation()
    compute.hold()
    caller = asyncio.create_task(shared.get(compute))
    await compute.started.wait()

    await shared.close()

    with pytest.raises(asyncio.CancelledError):
        await caller
