"""A todo_api database of schema version 1 is upgraded when the API starts: the calendar feed's
list version is made, dated by the last todo event of the log (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import MetaData, insert, select

from services.todo_api.app import create_app
from services.todo_api.tables import OWNER, SCHEMA, list_version, todo_ids, todos
from services.todo_api.upgrade import upgrade
from shared.contracts.envelope import wrap
from shared.contracts.events import TodoCreated
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.database import create_engine, ensure_schema
from shared.eventstore.store import EventStore, store_tables
from shared.settings import Settings
from tests.support.factories import todo_snapshot
from tests.support.stores import service_store
from tests.support.todo_http import FEED, summaries

CREATED_AT = datetime(2024, 1, 2, 3, 4, 5)


async def make_version_one(settings: Settings) -> None:
    """A version 1 database, without the list version, holding one todo and its event."""
    metadata = MetaData()
    tables = store_tables(metadata, OWNER)
    old_todos, old_ids = todos.to_metadata(metadata), todo_ids.to_metadata(metadata)
    engine = create_engine(settings)
    try:
        await ensure_schema(
            engine, metadata, owner=OWNER, version=1, schema=settings.database_schema
        )
        store = EventStore(engine, tables)
        snapshot = todo_snapshot(1, title="Water the plants")
        created = wrap(
            TodoCreated(todo=snapshot),
            stream_id=todo_stream_id(1),
            stream_version=1,
            origin=ANONYMOUS_ORIGIN,
        )
        async with store.transaction() as conn:
            await store.insert(
                conn, [created.model_copy(update={"occurred_at": CREATED_AT})], publish=False
            )
            await conn.execute(insert(old_todos).values(**snapshot.model_dump()))
            await conn.execute(insert(old_ids).values(name="todo", last_id=1))
    finally:
        await engine.dispose()


async def test_the_api_starts_on_a_version_one_database_and_tags_its_feed(
    service_settings: Settings,
) -> None:
    await make_version_one(service_settings)

    async with TestClient(TestServer(create_app(service_settings))) as client:
        first = await client.get(FEED)
        first_body = await first.read()
        await client.put("/api/v1/todos/1", json={"title": "Water the plants twice"})
        changed = await client.get(FEED, headers={"If-None-Match": first.headers["ETag"]})

    assert first.status == 200
    assert summaries(first_body) == ["Water the plants"]
    assert b"DTSTAMP:20240102T030405Z" in first_body
    assert changed.status == 200
    async with service_store(service_settings, SCHEMA) as store, store.engine.connect() as conn:
        row = (await conn.execute(select(list_version))).one()
    assert row.version == 1
    assert row.changed_at > CREATED_AT


async def test_an_upgraded_or_empty_database_is_left_alone(database: Settings) -> None:
    engine = create_engine(database)
    try:
        on_empty = await upgrade(engine)
        async with service_store(database, SCHEMA):
            pass
        on_current = await upgrade(engine)
    finally:
        await engine.dispose()

    assert (on_empty, on_current) == (False, False)
