"""Event stores for tests: a bare store of its own tables, and waiting for a writer's lock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.todo_api.projection import seed_todo_ids
from services.todo_api.tables import SCHEMA as TODO_API_SCHEMA
from shared.app.resources import ServiceSchema, open_store
from shared.contracts.events import TodoDeleted
from shared.eventstore.database import create_engine, ensure_schema
from shared.eventstore.store import EventStore, store_tables
from shared.settings import Settings
from tests.support.factories import NOW
from tests.support.polling import eventually

# waits end as soon as their condition holds: room for a stalled host costs nothing
WAIT_S = 30


async def make_store(settings: Settings, owner: str = "store_test") -> EventStore:
    """A store with just the event tables (events, outbox, inbox, relay lease) of `owner`."""
    metadata = MetaData()
    tables = store_tables(metadata, owner)
    engine = create_engine(settings)
    await ensure_schema(engine, metadata, owner=owner, version=1, schema=settings.database_schema)
    return EventStore(engine, tables)


@contextlib.asynccontextmanager
async def service_store(settings: Settings, schema: ServiceSchema) -> AsyncIterator[EventStore]:
    """A service's own store (all its tables) on `settings`' database, disposed of afterwards."""
    store = await open_store(settings, schema)
    try:
        yield store
    finally:
        await store.engine.dispose()


@contextlib.asynccontextmanager
async def todo_api_store(settings: Settings) -> AsyncIterator[EventStore]:
    """todo_api's store on `settings`' database, with the todo id counter its app makes at
    start-up."""
    async with service_store(settings, TODO_API_SCHEMA) as store:
        async with store.engine.begin() as conn:
            await seed_todo_ids(conn)
        yield store


def deleted(todo_id: int) -> TodoDeleted:
    """A small event to append where its content does not matter."""
    return TodoDeleted(id=todo_id, deleted_at=NOW)


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
