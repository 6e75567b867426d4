"""A table with a column of each kind the direct statements process (a datetime, a UUID, JSON),
its rows, and an engine holding it on SQLite or PostgreSQL: for the tests of
shared/eventstore/direct_writes.py and direct_reads.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Uuid, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventstore.database import create_engine
from shared.settings import Settings

metadata = MetaData()
things = Table(
    "direct_things",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("count", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ref", Uuid, nullable=True),
    Column("detail", JSON, nullable=True),
)
AT = datetime(2026, 12, 7, 11, 30, 5, 123456, tzinfo=UTC)
REF = uuid.UUID(int=7)
DETAIL = {"todos": [1, 2], "note": 'é\n"quoted"'}


def row(name: str, **changes: object) -> dict[str, object]:
    return {"name": name, "count": 1, "at": AT, "ref": REF, "detail": DETAIL} | changes


@contextlib.asynccontextmanager
async def things_engine(database: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on `database` with the table made (in the test's own PostgreSQL schema there,
    which the schema's fixture drops after the test)."""
    engine = create_engine(database)
    async with engine.begin() as conn:
        if database.database_schema:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{database.database_schema}"'))
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()
