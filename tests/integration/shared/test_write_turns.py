"""SQLite's write turns (shared/eventstore/write_turns.py) on a real file: one at a time, the
connection handed from each turn to the next one waiting, and none held once the turns are over,
whatever ended them (an error, a waiter cancelled after it was handed the connection, a handed
connection invalidated before the next turn took it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.eventstore.database import create_engine
from shared.eventstore.write_turns import WriteTurns
from shared.settings import Settings

TURNS = 5
# bounds `until`: what it waits for takes a handful of the loop's turns
LOOP_TURNS = 1000


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/turns.db"))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE turns (number INTEGER)"))
    try:
        yield engine
    finally:
        await engine.dispose()


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until `condition` holds (they need no more than a few turns)."""
    for _ in range(LOOP_TURNS):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the other tasks never got there")


def held(engine: AsyncEngine) -> int:
    """Connections taken from the engine's pool and not given back."""
    return int(engine.pool.checkedout())  # type: ignore[attr-defined]


async def write(conn: AsyncConnection, number: int) -> None:
    async with conn.begin():
        await conn.execute(text("INSERT INTO turns VALUES (:n)"), {"n": number})


async def waiting_writer(
    turns: WriteTurns, number: int, used: list[AsyncConnection]
) -> asyncio.Task[None]:
    """A task writing `number` in a turn of its own (its connection noted in `used`), returned
    once it waits for that turn."""

    async def writer() -> None:
        async with turns.turn() as conn:
            used.append(conn)
            await write(conn, number)

    waiting_before = turns.waiting
    task = asyncio.create_task(writer())
    await until(lambda: turns.waiting == waiting_before + 1)
    return task


async def numbers(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT number FROM turns"))).scalars())


async def test_a_turn_alone_gives_its_connection_back(engine: AsyncEngine) -> None:
    turns = WriteTurns(engine)
    async with turns.turn() as conn:
        await write(conn, 1)
        assert held(engine) == 1

    assert held(engine) == 0
    assert turns.handed is None
    assert await numbers(engine) == [1]


async def test_waiting_turns_take_one_connection_in_order_and_give_it_back(
    engine: AsyncEngine,
) -> None:
    turns = WriteTurns(engine)
    used: list[AsyncConnection] = []
    order: list[int] = []
    first_may_end = asyncio.Event()

    async def one(number: int) -> None:
        async with turns.turn() as conn:
            used.append(conn)
            order.append(number)
            await write(conn, number)
            if number == 0:
                await first_may_end.wait()

    first = asyncio.create_task(one(0))
    await until(lambda: order == [0])
    others = []
    for number in range(1, TURNS):
        others.append(asyncio.create_task(one(number)))
        await until(lambda: turns.waiting == len(others))
    first_may_end.set()
    await asyncio.gather(first, *others)

    assert order == list(range(TURNS))
    assert all(conn is used[0] for conn in used)
    assert held(engine) == 0
    assert turns.handed is None
    assert sorted(await numbers(engine)) == list(range(TURNS))


async def test_a_turn_that_fails_gives_back_its_connection_and_the_next_gets_another(
    engine: AsyncEngine,
) -> None:
    turns = WriteTurns(engine)
    failing_may_end = asyncio.Event()
    used: dict[str, AsyncConnection] = {}

    async def failing() -> None:
        async with turns.turn() as conn:
            used["failing"] = conn
            await conn.begin()
            await conn.execute(text("INSERT INTO turns VALUES (1)"))
            await failing_may_end.wait()
            raise RuntimeError("the turn's work failed")

    async def next_one() -> None:
        async with turns.turn() as conn:
            used["next"] = conn
            await write(conn, 2)

    failed = asyncio.create_task(failing())
    await until(lambda: "failing" in used)
    following = asyncio.create_task(next_one())
    await until(lambda: turns.waiting == 1)
    failing_may_end.set()

    with pytest.raises(RuntimeError, match="failed"):
        await failed
    await following

    assert used["next"] is not used["failing"]
    # the failed turn's insert was never committed
    assert await numbers(engine) == [2]
    assert held(engine) == 0
    assert turns.handed is None


async def test_a_waiter_cancelled_after_it_was_handed_the_connection_leaves_none_held(
    engine: AsyncEngine,
) -> None:
    turns = WriteTurns(engine)

    async with turns.turn() as conn:
        await write(conn, 1)
        waiter = await waiting_writer(turns, 2, [])
        # cancelled while it waits: this turn still counts it, and hands it the connection
        waiter.cancel()

    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert turns.waiting == 0
    assert turns.handed is None
    assert held(engine) == 0
    assert await numbers(engine) == [1]
    async with turns.turn() as conn:
        await write(conn, 3)
    assert await numbers(engine) == [1, 3]


async def test_a_connection_invalidated_while_handed_on_is_closed_and_replaced(
    engine: AsyncEngine,
) -> None:
    turns = WriteTurns(engine)
    used: list[AsyncConnection] = []

    async with turns.turn() as conn:
        await write(conn, 1)
        following = await waiting_writer(turns, 2, used)
    handed = turns.handed
    assert handed is conn
    # before the next turn runs: what a lost database file or a failed statement would do
    await handed.invalidate()
    await following

    assert used[0] is not handed
    assert handed.closed
    assert held(engine) == 0
    assert turns.handed is None
    assert await numbers(engine) == [1, 2]
