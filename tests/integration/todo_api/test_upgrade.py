"""A todo_api database of an older schema version is upgraded when the API starts (SQLite,
PostgreSQL): from version 1, the calendar feed's list version is made, dated by the last todo
event of the log; from version 3, what it holds becomes the anonymous tenant's, its feed's tag and
its idempotency keys unchanged; from version 4, the calendar feed URLs' table is made; from
version 5, the rate limits' buckets."""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import uuid4

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
)
from yarl import URL

from services.todo_api.app import create_app
from services.todo_api.idempotency import KeyedRequest
from services.todo_api.schemas import TodoIn
from services.todo_api.tables import (
    OWNER,
    SCHEMA,
    SCHEMA_VERSION,
    api_keys,
    feed_secrets,
    list_versions,
    rate_buckets,
    todo_ids,
    todos,
)
from services.todo_api.upgrade import single_list_version, upgrade
from shared.clock import utcnow
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import IdempotencyKeyUsed, TodoCreated, TodoUpdated
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, ANONYMOUS_TENANT
from shared.eventstore.database import create_engine, ensure_schema
from shared.eventstore.schema_upgrade import stored_version
from shared.eventstore.store import EventStore, store_tables
from shared.settings import Settings
from tests.support.auth import bearer, issue_key, requiring_credentials
from tests.support.factories import todo_snapshot
from tests.support.stores import service_store
from tests.support.todo_http import FEED, TODOS, summaries

CREATED_AT = datetime(2024, 1, 2, 3, 4, 5)
TITLE = "Water the plants"
# a version 3 database's one list version
OLD_LIST_ID, OLD_VERSION = uuid4().hex, 7
KEY = "water-1"


def todos_before_tenants(metadata: MetaData) -> Table:
    """The todo list as versions 1 to 3 made it: no tenant."""
    return Table(
        todos.name,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("title", String(80), nullable=False),
        Column("description", String(120)),
        Column("completed", Boolean, nullable=False),
        Column("deadline_at", DateTime),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )


async def make_old_version(settings: Settings, version: int) -> EventStore:
    """A database of schema `version` (1 or 3) holding one todo and its event; version 3 also
    has its one list version and a key that answered the todo's create."""
    metadata = MetaData()
    tables = store_tables(metadata, OWNER)
    old_todos, old_ids = todos_before_tenants(metadata), todo_ids.to_metadata(metadata)
    if version == 3:
        single_list_version.to_metadata(metadata)
        api_keys.to_metadata(metadata)
    engine = create_engine(settings)
    await ensure_schema(
        engine, metadata, owner=OWNER, version=version, schema=settings.database_schema
    )
    store = EventStore(engine, tables)
    snapshot = todo_snapshot(1, title=TITLE)
    created = _old_event(TodoCreated(todo=snapshot), todo_stream_id(1))
    async with store.transaction() as conn:
        await store.insert(
            conn, [created.model_copy(update={"occurred_at": CREATED_AT})], publish=False
        )
        await conn.execute(insert(old_todos).values(**snapshot.model_dump()))
        await conn.execute(insert(old_ids).values(name="todo", last_id=1))
    return store


async def make_version_one(settings: Settings) -> None:
    """A version 1 database, without the list version, holding one todo and its event."""
    store = await make_old_version(settings, 1)
    await store.engine.dispose()


async def make_version_three(settings: Settings) -> None:
    """A version 3 database: one list, one list version, keys not yet per tenant."""
    store = await make_old_version(settings, 3)
    body = TodoIn(title=TITLE).model_dump_json()
    used = IdempotencyKeyUsed(
        key=KEY,
        request_sha256=KeyedRequest.of(KEY, "POST", TODOS, body).request_sha256,
        status=201,
        todo_id=1,
        used_at=utcnow(),
    )
    # the key's stream as version 3 named it: by the key's hash alone
    stream = f"idempotency-{hashlib.sha256(KEY.encode()).hexdigest()}"
    try:
        async with store.transaction() as conn:
            await store.insert(conn, [_old_event(used, stream)], publish=False)
            await conn.execute(
                insert(single_list_version).values(
                    name="todos",
                    database_id=OLD_LIST_ID,
                    version=OLD_VERSION,
                    changed_at=CREATED_AT,
                )
            )
    finally:
        await store.engine.dispose()


def _old_event(event: TodoCreated | TodoUpdated | IdempotencyKeyUsed, stream_id: str) -> Envelope:
    return wrap(event, stream_id=stream_id, stream_version=1, origin=ANONYMOUS_ORIGIN)


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
        row = (await conn.execute(select(list_versions))).one()
    assert row.tenant == ANONYMOUS_TENANT
    assert row.version == 1
    assert row.changed_at > CREATED_AT


async def test_a_version_three_database_becomes_the_anonymous_tenant_s_with_its_tag_and_keys(
    service_settings: Settings,
) -> None:
    await make_version_three(service_settings)

    async with TestClient(TestServer(create_app(service_settings))) as client:
        feed = await client.get(FEED)
        listed = await (await client.get(TODOS)).json()
        retried = await client.post(TODOS, json={"title": TITLE}, headers={"Idempotency-Key": KEY})
        retried_body = await retried.json()
        listed_after = await (await client.get(TODOS)).json()

    # a calendar app polling with its tag gets no new copy for the upgrade
    assert feed.headers["ETag"] == f'"todos-{OLD_LIST_ID}-{OLD_VERSION}"'
    assert [todo["title"] for todo in listed] == [TITLE]
    assert (retried.status, retried_body["id"]) == (201, 1)
    assert listed_after == listed
    async with service_store(service_settings, SCHEMA) as store, store.engine.connect() as conn:
        tenants = (await conn.execute(select(todos.c.tenant))).scalars().all()
    assert tenants == [ANONYMOUS_TENANT]


def todos_before_stream_versions(metadata: MetaData) -> Table:
    """The todo list as versions 4 to 7 made it: a tenant, no stream version."""
    listed = todos_before_tenants(metadata)
    listed.append_column(Column("tenant", String(255), nullable=False))
    return listed


async def make_version(
    settings: Settings, version: int, *events: TodoCreated | TodoUpdated
) -> None:
    """A version 4 database (today's tables but the calendar feed URLs' and the rate limits'
    buckets) or a version 7 one, holding one todo, with `events` as its stream."""
    metadata = MetaData()
    added_since = {4: (feed_secrets, rate_buckets, todos), 7: (todos,)}[version]
    for table in SCHEMA.metadata.sorted_tables:
        if table not in added_since:
            table.to_metadata(metadata)
    old_todos = todos_before_stream_versions(metadata)
    engine = create_engine(settings)
    store = EventStore(engine, store_tables(MetaData(), OWNER))
    try:
        await ensure_schema(
            engine, metadata, owner=OWNER, version=version, schema=settings.database_schema
        )
        async with store.transaction() as conn:
            row = {"tenant": ANONYMOUS_TENANT, **todo_snapshot(1, title=TITLE).model_dump()}
            await conn.execute(insert(old_todos).values(**row))
            stream = [
                wrap(
                    event,
                    stream_id=todo_stream_id(1),
                    stream_version=number,
                    origin=ANONYMOUS_ORIGIN,
                )
                for number, event in enumerate(events, start=1)
            ]
            await store.insert(conn, stream, publish=False)
    finally:
        await engine.dispose()


async def make_version_four(settings: Settings) -> None:
    await make_version(settings, 4)


async def test_a_version_four_database_gets_the_feed_urls_table_and_serves_a_feed_url(
    service_settings: Settings,
) -> None:
    await make_version_four(service_settings)
    engine = create_engine(service_settings)
    try:
        upgraded = await upgrade(engine)
        async with engine.connect() as conn:
            version = await stored_version(conn, OWNER)
            made = await conn.run_sync(lambda sync: inspect(sync).has_table(feed_secrets.name))
    finally:
        await engine.dispose()

    async with TestClient(TestServer(create_app(service_settings))) as client:
        issued = await (await client.post(f"{TODOS}/calendar-feed")).json()
        by_url = await client.get(URL(issued["feed_url"]).path)
        body = await by_url.read()

    # the upgrade alone leaves a whole database of this version, before the service opens it
    assert (upgraded, version, made) == (True, SCHEMA_VERSION, True)
    assert by_url.status == 200
    assert summaries(body) == [TITLE]
    async with service_store(service_settings, SCHEMA) as store, store.engine.connect() as conn:
        rows = (await conn.execute(select(feed_secrets.c.tenant))).scalars().all()
    assert rows == [ANONYMOUS_TENANT]


async def test_an_upgraded_database_gains_the_rate_limits_buckets(
    service_settings: Settings,
) -> None:
    await make_version_four(service_settings)
    one_write = requiring_credentials(service_settings).model_copy(
        update={"rate_limit_writes_per_minute": 1, "rate_limit_writes_burst": 1}
    )

    async with TestClient(TestServer(create_app(one_write))) as client:
        key = bearer(await issue_key(one_write))
        answers = [await client.post(TODOS, json={"title": TITLE}, headers=key) for _ in "ab"]

    assert [answer.status for answer in answers] == [201, 429]


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


async def test_a_version_seven_database_gets_each_todo_s_stream_version_from_the_log(
    service_settings: Settings,
) -> None:
    created = TodoCreated(todo=todo_snapshot(1, title="Draft"))
    renamed = TodoUpdated(todo=todo_snapshot(1, title=TITLE), changed=("title",))
    await make_version(service_settings, 7, created, renamed)
    engine = create_engine(service_settings)
    try:
        upgraded = await upgrade(engine)
        async with engine.connect() as conn:
            versions = (await conn.execute(select(todos.c.id, todos.c.stream_version))).all()
    finally:
        await engine.dispose()

    assert upgraded
    assert [tuple(row) for row in versions] == [(1, 2)]
