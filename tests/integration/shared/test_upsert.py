"""INSERT ... ON CONFLICT built for each database: do nothing, or update the row that is there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore.database import create_engine
from shared.eventstore.upsert import NEW_ROW, insert_on_conflict
from shared.settings import Settings

metadata = MetaData()
things = Table(
    "upsert_things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", String(16), nullable=False, unique=True),
    Column("colour", String(16), nullable=False),
    Column("size", Integer, nullable=False),
)


@pytest.fixture
async def conn(database: Settings) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(database)
    try:
        async with engine.begin() as connection:
            if database.database_schema:
                # the test's own PostgreSQL schema, dropped after it
                schema = database.database_schema
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.run_sync(metadata.create_all)
            yield connection
    finally:
        await engine.dispose()


async def rows(conn: AsyncConnection) -> list[tuple[int, str, str, int]]:
    found = await conn.execute(select(things).order_by(things.c.id))
    return [(row.id, row.label, row.colour, row.size) for row in found]


async def insert(conn: AsyncConnection, **statement_options: Any) -> int:
    """Insert the row (1, "b", "blue", 2) and say how many rows it wrote."""
    statement = insert_on_conflict(conn, things, **statement_options)
    row = {"id": 1, "label": "b", "colour": "blue", "size": 2}
    return (await conn.execute(statement, row)).rowcount


class TestInsertOnConflict:
    async def test_inserts_a_row_that_is_not_there(self, conn: AsyncConnection) -> None:
        assert await insert(conn) == 1

        assert await rows(conn) == [(1, "b", "blue", 2)]

    async def test_does_nothing_on_a_conflict_with_any_key(self, conn: AsyncConnection) -> None:
        await conn.execute(things.insert(), {"id": 7, "label": "b", "colour": "red", "size": 1})

        assert await insert(conn) == 0

        assert await rows(conn) == [(7, "b", "red", 1)]

    async def test_names_the_key_whose_conflict_it_ignores(self, conn: AsyncConnection) -> None:
        await conn.execute(things.insert(), {"id": 1, "label": "a", "colour": "red", "size": 1})

        assert await insert(conn, index_elements=[things.c.id]) == 0

        assert await rows(conn) == [(1, "a", "red", 1)]

    async def test_updates_the_row_with_the_values_given(self, conn: AsyncConnection) -> None:
        await conn.execute(things.insert(), {"id": 1, "label": "a", "colour": "red", "size": 1})

        written = await insert(conn, index_elements=[things.c.id], set_={"size": 9})

        assert written == 1
        assert await rows(conn) == [(1, "a", "red", 9)]

    async def test_updates_the_row_to_the_new_row(self, conn: AsyncConnection) -> None:
        await conn.execute(things.insert(), {"id": 1, "label": "a", "colour": "red", "size": 1})

        written = await insert(conn, index_elements=[things.c.id], set_=NEW_ROW)

        assert written == 1
        assert await rows(conn) == [(1, "b", "blue", 2)]

    async def test_updates_only_a_row_that_matches_the_where(self, conn: AsyncConnection) -> None:
        await conn.execute(things.insert(), {"id": 1, "label": "a", "colour": "red", "size": 1})

        written = await insert(
            conn, index_elements=[things.c.id], set_=NEW_ROW, where=things.c.colour == "green"
        )

        assert written == 0
        assert await rows(conn) == [(1, "a", "red", 1)]

    def test_refuses_a_database_it_cannot_build_for(self) -> None:
        with pytest.raises(ValueError, match="mysql"):
            insert_on_conflict("mysql", things)
