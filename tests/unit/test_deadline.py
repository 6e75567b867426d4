"""A deadline answers on time even when the work it gives up on takes long to unwind."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.deadline import Deadline

# how long the work and its unwind take unless the test ends them: far beyond any host stall
UNWIND_S = 10.0


async def test_gives_the_result_of_work_done_in_time() -> None:
    async def quick() -> int:
        await asyncio.sleep(0)
        return 7

    assert await Deadline().run(quick(), timeout_s=1.0) == 7


async def test_gives_the_error_of_work_that_failed_in_time() -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("away")

    with pytest.raises(ConnectionRefusedError):
        await Deadline().run(broken(), timeout_s=1.0)


async def test_answers_at_the_deadline_while_the_work_unwinds_in_the_background() -> None:
    let_unwind, unwound = asyncio.Event(), asyncio.Event()
    # a deadline that waited for the unwind answers only once this lets it end
    asyncio.get_running_loop().call_later(UNWIND_S, let_unwind.set)

    async def slow_to_unwind() -> None:
        try:
            await asyncio.sleep(UNWIND_S)
        finally:
            # like a connection closing itself politely after a cancel
            await asyncio.shield(let_unwind.wait())
            unwound.set()

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await Deadline().run(slow_to_unwind(), timeout_s=0.05)
    answered_s = time.monotonic() - started

    assert not unwound.is_set()
    assert answered_s < UNWIND_S / 2
    let_unwind.set()
    await asyncio.wait_for(unwound.wait(), UNWIND_S)
