"""The committed horizon: below it no event can still appear, however commits are ordered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine, ensure_schema
from shared.events import TodoDeleted
from shared.log_horizon import Page, committed_horizon, settled_pages
from shared.settings import Settings
from shared.store import EventStore, store_tables
from tests.conftest import POSTGRES_URL
from tests.polling import eventually

NOW = datetime(2024, 4, 17, 14, 0)
WAIT_S = 5


async def make_store(settings: Settings) -> EventStore:
    metadata = MetaData()
    tables = store_tables(metadata, "horizon_test")
    engine = create_engine(settings)
    await ensure_schema(
        engine, metadata, owner="horizon_test", version=1, schema=settings.database_schema
    )
    return EventStore(engine, tables)


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    store = await make_store(database)
    yield store
    await store.engine.dispose()


@pytest.fixture
async def postgres_store(postgres_schema: str) -> AsyncIterator[EventStore]:
    store = await make_store(Settings(database_url=POSTGRES_URL, database_schema=postgres_schema))
    yield store
    await store.engine.dispose()


def store_pages(store: EventStore) -> Callable[[int], Awaitable[Page]]:
    """Read the store two events a page."""

    async def read_page(after: int) -> Page:
        return await store.read_all(after=after, limit=2)

    return read_page


def deleted(todo_id: int) -> TodoDeleted:
    return TodoDeleted(id=todo_id, deleted_at=NOW)


async def append(store: EventStore, stream_id: str) -> None:
    async with store.transaction() as conn:
        await store.append(conn, stream_id, 0, [deleted(1)])


async def lock_waited_on(engine: AsyncEngine, schema: str) -> bool:
    """Whether a session waits for a table lock in `schema` (PostgreSQL)."""
    query = text(
        "SELECT count(*) FROM pg_locks AS l "
        "JOIN pg_class AS c ON c.oid = l.relation "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE NOT l.granted AND n.nspname = :schema"
    )
    async with engine.connect() as conn:
        return bool((await conn.execute(query, {"schema": schema})).scalar_one())


async def until_blocked_or_done(
    engine: AsyncEngine, schema: str, task: asyncio.Task[object]
) -> None:
    """Wait until `task` waits for a lock in `schema`, or has finished without waiting."""

    async def blocked_or_done() -> bool:
        return task.done() or await lock_waited_on(engine, schema)

    await eventually(blocked_or_done, timeout_s=WAIT_S, interval_s=0.02)


class TestCommittedHorizon:
    async def test_an_empty_log_has_its_horizon_at_zero(self, store: EventStore) -> None:
        assert await committed_horizon(store.engine, store.tables.events) == 0

    async def test_with_no_append_open_the_horizon_is_the_highest_position(
        self, store: EventStore
    ) -> None:
        for number in range(3):
            await append(store, f"todo-{number}")

        assert await committed_horizon(store.engine, store.tables.events) == 3

    async def test_the_horizon_waits_for_an_append_that_took_a_lower_position(
        self, postgres_store: EventStore, postgres_schema: str
    ) -> None:
        store = postgres_store
        async with store.engine.connect() as early:
            transaction = await early.begin()
            # takes position 1 but commits after position 2
            await store.append(early, "todo-1", 0, [deleted(1)])
            await append(store, "todo-2")
            horizon = asyncio.create_task(committed_horizon(store.engine, store.tables.events))
            await until_blocked_or_done(store.engine, postgres_schema, horizon)
            waited = not horizon.done()
            await transaction.commit()
        settled = [position for position, _ in await store.read_all(after=0)]

        assert waited
        assert await horizon == 2
        assert settled == [1, 2]

    async def test_an_append_rolled_back_leaves_no_gap_to_wait_for(
        self, postgres_store: EventStore, postgres_schema: str
    ) -> None:
        store = postgres_store
        async with store.engine.connect() as early:
            transaction = await early.begin()
            await store.append(early, "todo-1", 0, [deleted(1)])
            await append(store, "todo-2")
            horizon = asyncio.create_task(committed_horizon(store.engine, store.tables.events))
            await until_blocked_or_done(store.engine, postgres_schema, horizon)
            await transaction.rollback()

        assert await horizon == 2
        # the horizon's lock is gone with it: appends go on
        await asyncio.wait_for(append(store, "todo-3"), timeout=WAIT_S)
        assert await committed_horizon(store.engine, store.tables.events) == 3


class TestSettledPages:
    async def test_pages_stop_at_the_horizon(self, store: EventStore) -> None:
        for number in range(5):
            await append(store, f"todo-{number}")

        pages = [
            [position for position, _ in page]
            async for page in settled_pages(store_pages(store), after=0, horizon=3)
        ]

        assert pages == [[1, 2], [3]]

    async def test_nothing_is_read_at_or_past_the_horizon(self, store: EventStore) -> None:
        await append(store, "todo-1")

        pages = [page async for page in settled_pages(store_pages(store), after=1, horizon=1)]

        assert pages == []
