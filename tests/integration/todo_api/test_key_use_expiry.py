"""An Idempotency-Key's uses are deleted once past their window (SQLite and PostgreSQL): older
uses go and newer stay, with the rest of the log; a key used inside the window still answers its
first answer, one whose uses are gone answers afresh and is noted after what is left; the expiry
finds its rows through a partial index (which an older database gains at start), and cleaners
and requests at once never lose an answer nor give a key two (PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import MetaData, func, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.todo_api.app import create_app
from services.todo_api.commands import CreateTodo
from services.todo_api.handlers import create_todo
from services.todo_api.idempotency import KEY_WINDOW, KeyedRequest
from services.todo_api.key_use_expiry import (
    LABEL,
    MARGIN,
    expiring_key_uses,
    key_use_window,
)
from services.todo_api.records import SqlTodoBook
from services.todo_api.tables import OWNER, SCHEMA, key_uses_by_time
from shared.app.app_keys import metrics_key, store_key
from shared.clock import utcnow
from shared.contracts.events import IdempotencyKeyUsed
from shared.contracts.streams import idempotency_stream_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.eventstore.database import create_engine, ensure_schema
from shared.eventstore.expiry import ExpiryJob
from shared.eventstore.store import ConcurrencyError, EventStore
from shared.observability.metrics import Metrics
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.polling import eventually
from tests.support.query_plans import plan_of
from tests.support.scrapes import Scrape
from tests.support.stores import service_store, todo_api_store
from tests.support.todo_http import TODOS

WINDOW = timedelta(seconds=60)
WAIT_S = 30


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    async with todo_api_store(database) as store:
        yield store


@pytest.fixture
async def postgres_store(postgres_schema: str) -> AsyncIterator[EventStore]:
    settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema)
    async with todo_api_store(settings) as store:
        yield store


def cleaner(store: EventStore, metrics: Metrics | None = None, batch_rows: int = 3) -> ExpiryJob:
    rows = expiring_key_uses(store.tables.events, WINDOW, store.engine.dialect.name)
    counted = metrics or Metrics()
    return ExpiryJob(store, [rows], batch_rows=batch_rows, on_deleted=counted.expiry.count_deleted)


def use(key: str, todo_id: int, used_at: datetime | None = None) -> IdempotencyKeyUsed:
    return IdempotencyKeyUsed(
        key=key,
        request_sha256=f"digest-{todo_id}",
        status=201,
        todo_id=todo_id,
        used_at=used_at or utcnow(),
    )


async def note(book: SqlTodoBook, key: str, todo_id: int, used_at: datetime | None = None) -> None:
    async with book.transaction() as records:
        found = await records.key_uses(key)
        await records.record_key_use(found.version, use(key, todo_id, used_at))


async def backdate(store: EventStore, key: str, *, up_to_version: int | None = None) -> None:
    """The key's uses (up to a version) stored well before the window."""
    events = store.tables.events
    which = events.c.stream_id == idempotency_stream_id(key, ANONYMOUS_TENANT)
    if up_to_version is not None:
        which = which & (events.c.stream_version <= up_to_version)
    async with store.transaction() as conn:
        await conn.execute(update(events).where(which).values(occurred_at=utcnow() - WINDOW * 3))


async def versions(store: EventStore, key: str) -> list[int]:
    events = store.tables.events
    stream = idempotency_stream_id(key, ANONYMOUS_TENANT)
    query = select(events.c.stream_version).where(events.c.stream_id == stream)
    async with store.reading() as conn:
        return list((await conn.execute(query.order_by(events.c.stream_version))).scalars())


async def event_count(store: EventStore) -> int:
    async with store.reading() as conn:
        query = select(func.count()).select_from(store.tables.events)
        return int((await conn.execute(query)).scalar_one())


async def scrape(metrics: Metrics) -> Scrape:
    return Scrape.parse((await metrics.exposition()).decode())


async def test_uses_past_the_window_go_and_newer_uses_and_other_events_stay(
    store: EventStore,
) -> None:
    book = SqlTodoBook(store)
    for todo_id in (1, 2, 3, 4):
        await note(book, "old", todo_id)
    await create_todo(CreateTodo(title="Water"), book)
    await note(book, "new", 5)
    await backdate(store, "old")
    before = await event_count(store)
    metrics = Metrics()
    job = cleaner(store, metrics)
    metrics.watch_expiry(lambda: job.lag(utcnow()))
    lag_before = (await scrape(metrics)).value("expiry_lag_seconds", table=LABEL)

    deleted = await job.run_once(utcnow())

    assert deleted == 4
    assert await event_count(store) == before - 4
    assert await versions(store, "old") == []
    assert await versions(store, "new") == [1]
    assert len((await book.snapshot()).todos) == 1
    after = await scrape(metrics)
    assert after.value("expired_rows_deleted_total", table=LABEL) == 4
    assert lag_before is not None
    assert lag_before >= (WINDOW * 2).total_seconds() - 1
    assert after.value("expiry_lag_seconds", table=LABEL) == 0


async def test_a_key_used_inside_the_window_answers_its_first_answer(store: EventStore) -> None:
    book, keyed = SqlTodoBook(store), KeyedRequest("inside", "digest")
    first = await create_todo(CreateTodo(title="Water"), book, keyed)

    await cleaner(store).run_once(utcnow())
    again = await create_todo(CreateTodo(title="Water"), book, keyed)

    assert again == first
    assert len((await book.snapshot()).todos) == 1


async def test_a_key_whose_uses_expired_answers_afresh_and_its_new_answer_holds(
    store: EventStore,
) -> None:
    book, keyed = SqlTodoBook(store), KeyedRequest("expired", "digest")
    first = await create_todo(CreateTodo(title="Water"), book, keyed)
    await backdate(store, "expired")
    # a later event, so the expired use is not the log's newest (which SQLite keeps)
    await create_todo(CreateTodo(title="Feed the cat"), book)
    assert await cleaner(store).run_once(utcnow()) == 1

    fresh = await create_todo(CreateTodo(title="Water"), book, keyed)
    retried = await create_todo(CreateTodo(title="Water"), book, keyed)

    assert fresh.id not in (first.id, 2)
    assert retried == fresh
    assert await versions(store, "expired") == [1]


async def test_a_use_goes_after_the_last_version_kept_when_older_ones_expired(
    store: EventStore,
) -> None:
    book = SqlTodoBook(store)
    for todo_id in (1, 2, 3):
        await note(book, "k", todo_id)
    await backdate(store, "k", up_to_version=1)
    assert await cleaner(store).run_once(utcnow()) == 1
    kept = await book.key_uses("k")

    # a count of what is left would note the next use on version 3, taken by the last one
    # (and with fewer left, on a deleted version, before the last one in the stream's order)
    with pytest.raises(ConcurrencyError):
        async with book.transaction() as records:
            await records.record_key_use(len(kept.uses), use("k", 4))
    await note(book, "k", 4)

    assert kept.version == 3
    assert [answer.todo_id for answer in kept.uses] == [2, 3]
    assert await versions(store, "k") == [2, 3, 4]
    assert [answer.todo_id for answer in (await book.key_uses("k")).uses] == [2, 3, 4]


async def test_two_cleaners_at_once_delete_each_use_once(
    store: EventStore, database: Settings
) -> None:
    book = SqlTodoBook(store)
    for number in range(12):
        await note(book, f"key-{number}", number)
    for number in range(12):
        await backdate(store, f"key-{number}")
    await note(book, "new", 99)
    async with service_store(database, SCHEMA) as other:
        metrics = Metrics()
        jobs = [cleaner(store, metrics, batch_rows=2), cleaner(other, metrics, batch_rows=2)]
        barrier = asyncio.Barrier(len(jobs))

        async def clean(job: ExpiryJob) -> int:
            await barrier.wait()
            return await job.run_once(utcnow())

        counts = await asyncio.gather(*(clean(job) for job in jobs))

    assert sum(counts) == 12
    assert (await scrape(metrics)).value("expired_rows_deleted_total", table=LABEL) == 12
    assert await versions(store, "new") == [1]


async def test_the_expiry_finds_its_rows_through_the_partial_index(store: EventStore) -> None:
    rows = expiring_key_uses(store.tables.events, WINDOW, store.engine.dialect.name)
    doomed = select(store.tables.events.c.position).where(rows.expired(utcnow()))

    assert str(key_uses_by_time.name) in await plan_of(store, doomed)


async def test_a_database_made_before_the_index_gains_it_at_start(database: Settings) -> None:
    metadata = MetaData()
    for table in SCHEMA.metadata.sorted_tables:
        table.to_metadata(metadata)
    events = metadata.tables[SCHEMA.store.events.name]
    events.indexes = {index for index in events.indexes if index.name != key_uses_by_time.name}
    engine = create_engine(database)
    try:
        await ensure_schema(
            engine, metadata, owner=OWNER, version=SCHEMA.version, schema=database.database_schema
        )
        before = await index_names(engine)
    finally:
        await engine.dispose()

    async with service_store(database, SCHEMA) as store:
        after = await index_names(store.engine)

    assert key_uses_by_time.name not in before
    assert key_uses_by_time.name in after


async def index_names(engine: AsyncEngine) -> set[str]:
    name = SCHEMA.store.events.name
    async with engine.connect() as conn:
        found = await conn.run_sync(lambda sync: inspect(sync).get_indexes(name))
    return {str(index["name"]) for index in found}


def test_uses_are_kept_for_the_key_s_window_and_a_margin_unless_a_test_says() -> None:
    assert key_use_window(Settings()) == KEY_WINDOW + MARGIN == timedelta(hours=25)
    assert key_use_window(Settings(idempotency_expiry_s=5)) == timedelta(seconds=5)


async def test_a_request_holds_the_uses_it_read_until_it_commits(
    postgres_store: EventStore,
) -> None:
    book = SqlTodoBook(postgres_store)
    for todo_id in (1, 2):
        await note(book, "k", todo_id)
    await note(book, "other", 3)
    await backdate(postgres_store, "k")
    await backdate(postgres_store, "other")
    await note(book, "new", 4)
    job = cleaner(postgres_store)

    async with book.transaction() as records:
        found = await records.key_uses("k")
        # the expiry skips the uses this request decided on; the other key's go
        skipping = await job.run_once(utcnow())
        await records.record_key_use(found.version, use("k", 5))
    after = await job.run_once(utcnow())

    assert (skipping, after) == (1, 2)
    assert await versions(postgres_store, "k") == [3]
    assert (await book.key_uses("k")).version == 3


async def test_a_request_reading_uses_being_deleted_waits_and_reads_them_gone(
    postgres_store: EventStore,
) -> None:
    book = SqlTodoBook(postgres_store)
    # a use past the key's window, stored past the expiry's
    await note(book, "k", 1, used_at=utcnow() - KEY_WINDOW - MARGIN * 2)
    await backdate(postgres_store, "k")
    await note(book, "new", 2)
    events = postgres_store.tables.events

    async with postgres_store.engine.connect() as deleting:
        # the expiry's delete, not committed yet
        transaction = await deleting.begin()
        stream = idempotency_stream_id("k", ANONYMOUS_TENANT)
        await deleting.execute(events.delete().where(events.c.stream_id == stream))
        keyed = KeyedRequest("k", "digest")
        request = asyncio.create_task(create_todo(CreateTodo(title="Water"), book, keyed))
        await eventually(lambda: row_lock_waited_on(postgres_store.engine), timeout_s=WAIT_S)
        await transaction.commit()
        await request

    # it decided on what is left (nothing) and noted its use as version 1, as a request arriving
    # after the delete does: the two conflict rather than both answer. Reading the deleted use
    # would have noted version 2, beside that request's version 1
    assert await versions(postgres_store, "k") == [1]


async def row_lock_waited_on(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return bool((await conn.execute(query)).scalar_one())


async def test_the_service_deletes_the_uses_past_idempotency_expiry_s(
    service_settings: Settings,
) -> None:
    settings = service_settings.model_copy(
        update={"idempotency_expiry_s": 60, "expiry_interval_ms": 20}
    )
    keyed = {"Idempotency-Key": "k"}

    async with TestClient(TestServer(create_app(settings))) as client:
        served, metrics = client.app[store_key], client.app[metrics_key]

        async def gone() -> bool:
            return await versions(served, "k") == []

        first = await (await client.post(TODOS, json={"title": "Water"}, headers=keyed)).json()
        await backdate(served, "k")
        # the log's newest event (which SQLite keeps) is another
        await client.post(TODOS, json={"title": "Feed the cat"})
        await eventually(gone, timeout_s=WAIT_S)
        fresh = await (await client.post(TODOS, json={"title": "Water"}, headers=keyed)).json()
        retried = await (await client.post(TODOS, json={"title": "Water"}, headers=keyed)).json()
        counted = (await scrape(metrics)).value("expired_rows_deleted_total", table=LABEL)

    assert (first["id"], fresh["id"], retried["id"]) == (1, 3, 3)
    assert counted == 1
