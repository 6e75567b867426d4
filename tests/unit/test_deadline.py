"""A deadline answers on time even when the work it gives up on takes long to unwind."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.deadline import Deadline


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
    unwound = asyncio.Event()

    async def slow_to_unwind() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            # like a connection closing itself politely after a cancel
            await asyncio.shield(asyncio.sleep(0.5))
            unwound.set()

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await Deadline().run(slow_to_unwind(), timeout_s=0.05)

    assert time.monotonic() - started < 0.3
    assert not unwound.is_set()
    await asyncio.wait_for(unwound.wait(), 2.0)
