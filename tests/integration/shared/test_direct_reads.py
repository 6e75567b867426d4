"""Direct reads (shared/eventstore/direct_reads.py): on SQLite run on a sqlite3 connection, they
give the rows SQLAlchemy would have given, see what was committed before them (and, inside a
transaction, its own writes), hold no read transaction open, and fail as SQLAlchemy fails; on
PostgreSQL the same calls go through SQLAlchemy. Each body runs on both."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.eventstore.database import create_engine
from shared.eventstore.direct_reads import DirectRead, ReadConnections
from shared.settings import Settings
from tests.support.direct_things import DETAIL, REF, row, things, things_engine

BY_NAME = DirectRead(select(things).where(things.c.name == bindparam("key")))
IN_ORDER = DirectRead(
    select(things.c.name, things.c.at).order_by(things.c.position).limit(bindparam("limit"))
)


@dataclass
class Source:
    """What a read outside a transaction goes to: an event store's three parts."""

    engine: AsyncEngine
    direct_reads: ReadConnections | None

    def reading(self) -> AsyncConnection:
        return self.engine.connect()


@pytest.fixture
async def source(database: Settings) -> AsyncIterator[Source]:
    async with opened(database) as found:
        yield found


@pytest.fixture
async def sqlite_source(tmp_path: Path) -> AsyncIterator[Source]:
    async with opened(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/test.db")) as found:
        yield found


@contextlib.asynccontextmanager
async def opened(database: Settings) -> AsyncIterator[Source]:
    async with things_engine(database) as engine:
        reads = ReadConnections.of(engine)
        try:
            yield Source(engine, reads)
        finally:
            if reads is not None:
                reads.close()


async def through_sqlalchemy(engine: AsyncEngine, name: str) -> dict[str, object]:
    async with engine.connect() as conn:
        found = await conn.execute(select(things).where(things.c.name == name))
        return dict(found.mappings().one())


async def test_on_a_sqlite_file_a_store_keeps_connections_of_its_own(
    source: Source, database: Settings
) -> None:
    assert (source.direct_reads is not None) == database.is_sqlite
    memory = create_engine(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    # one connection holds a database in memory: another would see an empty one
    assert ReadConnections.of(memory) is None
    await memory.dispose()


async def test_rows_come_back_as_through_sqlalchemy(source: Source) -> None:
    async with source.engine.begin() as conn:
        await conn.execute(insert(things), [row("full"), row("empty", ref=None, detail=None)])

    for name in ("full", "empty"):
        [outside] = await BY_NAME.mappings(source, {"key": name})
        async with source.engine.begin() as conn:
            [inside] = await BY_NAME.mappings(conn, {"key": name})
        assert outside == inside == await through_sqlalchemy(source.engine, name)
    [full] = await BY_NAME.rows(source, {"key": "full"})
    # values as their types read them: a datetime, a UUID, JSON decoded
    assert (full[1], full[4], full[5]) == ("full", REF, DETAIL)
    assert isinstance(full[3], datetime)
    assert await BY_NAME.rows(source, {"key": "nobody"}) == []


async def test_bound_values_choose_the_rows(source: Source) -> None:
    async with source.engine.begin() as conn:
        await conn.execute(insert(things), [row(f"n{n}") for n in range(5)])

    assert [name for name, _ in await IN_ORDER.rows(source, {"limit": 2})] == ["n0", "n1"]
    assert len(await IN_ORDER.rows(source, {"limit": 10})) == 5
    count = DirectRead(select(func.count()).select_from(things))
    assert await count.rows(source) == [(5,)]


async def test_a_read_sees_each_commit_made_before_it(source: Source) -> None:
    assert await IN_ORDER.rows(source, {"limit": 10}) == []
    for n in range(3):
        async with source.engine.begin() as conn:
            await conn.execute(insert(things), row(f"n{n}"))
        assert len(await IN_ORDER.rows(source, {"limit": 10})) == n + 1


async def test_inside_a_transaction_it_sees_that_transactions_writes_only(
    source: Source,
) -> None:
    async with source.engine.begin() as conn:
        await conn.execute(insert(things), row("uncommitted"))
        assert len(await BY_NAME.rows(conn, {"key": "uncommitted"})) == 1
        # outside it, the row is not there yet
        assert await BY_NAME.rows(source, {"key": "uncommitted"}) == []
        await conn.rollback()
    assert await BY_NAME.rows(source, {"key": "uncommitted"}) == []


async def test_on_sqlite_a_read_holds_no_transaction_open(sqlite_source: Source) -> None:
    source = sqlite_source
    async with source.engine.begin() as conn:
        await conn.execute(insert(things), [row(f"n{n}") for n in range(3)])
    assert len(await IN_ORDER.rows(source, {"limit": 1})) == 1

    assert source.direct_reads is not None
    writer = sqlite3.connect(source.direct_reads.path)
    try:
        # a reader in the middle of a transaction would make the checkpoint report itself busy
        busy, _, _ = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        writer.close()
    assert busy == 0


async def test_on_sqlite_each_thread_reads_on_a_connection_of_its_own(
    sqlite_source: Source,
) -> None:
    source = sqlite_source
    reads = source.direct_reads
    assert reads is not None
    async with source.engine.begin() as conn:
        await conn.execute(insert(things), row("shared"))
    here = reads.connection()
    found: list[object] = []

    def in_another_thread() -> None:
        found.append(reads.connection())
        found.append(asyncio.run(BY_NAME.mappings(source, {"key": "shared"}))[0]["name"])

    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join()

    assert found[0] is not here
    assert found[0] is not None
    assert found[1] == "shared"
    assert reads.connection() is here
    # closed with its store: reads go through SQLAlchemy again, and still answer
    reads.close()
    assert reads.connection() is None
    assert here is not None
    assert here.closed
    assert len(await BY_NAME.rows(source, {"key": "shared"})) == 1


async def test_an_error_comes_out_as_through_sqlalchemy(source: Source) -> None:
    missing = Table("direct_read_missing", MetaData(), Column("n", Integer))
    with pytest.raises((OperationalError, ProgrammingError)) as direct:
        await DirectRead(select(missing.c.n)).rows(source)
    with pytest.raises((OperationalError, ProgrammingError)) as usual:
        async with source.engine.connect() as conn:
            await conn.execute(select(missing.c.n))
    assert type(direct.value) is type(usual.value)


async def test_on_sqlite_a_missing_file_is_an_error_not_made_empty(tmp_path: Path) -> None:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/gone.db"))
    reads = ReadConnections.of(engine)
    assert reads is not None
    try:
        with pytest.raises(sqlite3.OperationalError):
            reads.connection()
        # a read answers as a database error, as SQLAlchemy's would
        with pytest.raises(OperationalError):
            await BY_NAME.rows(Source(engine, reads), {"key": "any"})
        assert not (tmp_path / "gone.db").exists()
    finally:
        reads.close()
        await engine.dispose()
