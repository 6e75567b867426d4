"""Direct writes (shared/eventstore/direct_writes.py): on SQLite run on its own connection, they
store what SQLAlchemy would have stored, inside the caller's transaction, and fail as SQLAlchemy
fails; on PostgreSQL the same calls go through SQLAlchemy. Each body runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventstore.direct_writes import DirectWrite, on_loop_connection
from shared.eventstore.upsert import insert_on_conflict
from shared.settings import Settings
from tests.support.direct_things import AT, row, things, things_engine

INSERT = DirectWrite(insert(things))
BUMP = DirectWrite(
    update(things)
    .where(things.c.name == bindparam("key"))
    .values(count=things.c.count + 1)
    .returning(things.c.count, things.c.name)
)


@pytest.fixture
async def engine(database: Settings) -> AsyncIterator[AsyncEngine]:
    async with things_engine(database) as made:
        yield made


async def stored(engine: AsyncEngine, name: str) -> dict[str, object]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(things).where(things.c.name == name))).mappings()
        return dict(found.one())


async def test_on_sqlite_they_run_on_its_own_connection(
    engine: AsyncEngine, database: Settings
) -> None:
    async with engine.begin() as conn:
        assert (on_loop_connection(conn) is not None) == database.is_sqlite


async def test_a_row_reads_back_as_one_written_through_sqlalchemy(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await INSERT.run(conn, row("direct"))
        await conn.execute(insert(things), row("through sqlalchemy"))
        # None is stored as through SQLAlchemy (JSON's null in a JSON column)
        await INSERT.run(conn, row("direct, without", ref=None, detail=None))
        await conn.execute(insert(things), row("usual, without", ref=None, detail=None))

    direct, usual = await stored(engine, "direct"), await stored(engine, "through sqlalchemy")
    assert direct.pop("position") != usual.pop("position")
    assert direct.pop("name") != usual.pop("name")
    assert direct == usual
    # SQLite's DateTime reads back without its zone, through SQLAlchemy as here
    assert isinstance(direct["at"], datetime)
    assert direct["at"].replace(tzinfo=UTC) == AT
    without = await stored(engine, "direct, without")
    assert (without["ref"], without["detail"]) == (None, None)
    async with engine.connect() as conn:
        null_columns = text(
            "SELECT ref IS NULL, detail IS NULL FROM direct_things WHERE name LIKE '%without'"
        )
        assert len(set((await conn.execute(null_columns)).all())) == 1


async def test_insert_answers_the_new_rows_key(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await INSERT.insert(conn, row("first"))
        second = await INSERT.insert(conn, row("second"))

    assert second > first
    assert (await stored(engine, "second"))["position"] == second


async def test_returning_rows_come_back_and_a_write_that_matches_none_returns_none(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await INSERT.run(conn, row("counted"))
        assert await BUMP.run(conn, {"key": "counted"}) == [(2, "counted")]
        assert await BUMP.run(conn, {"key": "counted"}) == [(3, "counted")]
        assert await BUMP.run(conn, {"key": "nobody"}) == []


async def test_count_answers_how_many_rows_were_written(engine: AsyncEngine) -> None:
    once = DirectWrite(insert_on_conflict(engine.dialect.name, things))
    recount = DirectWrite(update(things).where(things.c.count == bindparam("key")))
    async with engine.begin() as conn:
        assert await once.count(conn, row("counted")) == 1
        # its unique name taken: nothing written
        assert await once.count(conn, row("counted", count=2)) == 0
        await INSERT.run(conn, row("second"))
        assert await recount.count(conn, {"key": 1, "count": 5}) == 2
        assert await recount.count(conn, {"key": 1, "count": 6}) == 0

    assert (await stored(engine, "second"))["count"] == 5


async def test_they_are_part_of_the_callers_transaction(engine: AsyncEngine) -> None:
    async def write_then_fail() -> None:
        async with engine.begin() as conn:
            await INSERT.run(conn, row("rolled back"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await write_then_fail()
    async with engine.begin() as conn:
        await INSERT.run(conn, row("committed"))

    async with engine.connect() as conn:
        names = (await conn.execute(select(things.c.name))).scalars().all()
    assert names == ["committed"]


async def test_a_taken_key_fails_as_through_sqlalchemy(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await INSERT.run(conn, row("taken"))

    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await INSERT.insert(conn, row("taken"))
    assert (await stored(engine, "taken"))["count"] == 1
