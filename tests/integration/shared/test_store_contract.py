"""The event store's contract, with the outbox, inbox and log queries on its tables, run against
SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from uuid import uuid4

import pytest
from sqlalchemy import MetaData, func, select

from shared.contracts.envelope import wrap
from shared.contracts.events import TodoCreated, TodoDeleted
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.database import SchemaMismatchError, create_engine, ensure_schema
from shared.eventstore.queries import EventQueries
from shared.eventstore.store import ConcurrencyError, EventStore, OutboxRow, store_tables
from shared.messaging.inbox import record_processed
from shared.messaging.outbox import SqlOutbox
from shared.settings import Settings
from tests.support.factories import NOW, todo_snapshot


def created(todo_id: int) -> TodoCreated:
    return TodoCreated(todo=todo_snapshot(todo_id, deadline_at=None))


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    metadata = MetaData()
    tables = store_tables(metadata, "contract")
    engine = create_engine(database)
    await ensure_schema(
        engine, metadata, owner="contract", version=1, schema=database.database_schema
    )
    yield EventStore(engine, tables)
    await engine.dispose()


async def count(store: EventStore, table_name: str) -> int:
    table = getattr(store.tables, table_name)
    async with store.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


class TestAppendAndLoad:
    async def test_loads_appended_events_in_version_order(self, store: EventStore) -> None:
        async with store.transaction() as conn:
            await store.append(conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN)
        async with store.transaction() as conn:
            await store.append(
                conn,
                todo_stream_id(1),
                1,
                [TodoDeleted(id=1, deleted_at=NOW)],
                origin=ANONYMOUS_ORIGIN,
            )

        loaded = await store.load(todo_stream_id(1))

        assert [(e.stream_version, e.type) for e in loaded] == [
            (1, "TodoCreated"),
            (2, "TodoDeleted"),
        ]
        assert loaded[0].data == created(1)

    async def test_a_stream_that_was_never_written_loads_empty(self, store: EventStore) -> None:
        assert await store.load(todo_stream_id(404)) == []

    async def test_read_all_returns_every_stream_in_global_order(self, store: EventStore) -> None:
        for todo_id in (1, 2, 3):
            async with store.transaction() as conn:
                await store.append(
                    conn, todo_stream_id(todo_id), 0, [created(todo_id)], origin=ANONYMOUS_ORIGIN
                )

        queries = EventQueries(store)
        positions = await queries.read_all()

        assert [e.stream_id for _, e in positions] == [
            todo_stream_id(1),
            todo_stream_id(2),
            todo_stream_id(3),
        ]
        assert [p for p, _ in positions] == sorted(p for p, _ in positions)
        assert [e.stream_id for _, e in await queries.read_all(after=positions[0][0])] == [
            todo_stream_id(2),
            todo_stream_id(3),
        ]


class TestOptimisticConcurrency:
    async def test_appending_at_a_stale_version_raises(self, store: EventStore) -> None:
        async with store.transaction() as conn:
            await store.append(conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN)

        with pytest.raises(ConcurrencyError):
            async with store.transaction() as conn:
                await store.append(
                    conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN
                )

        assert len(await store.load(todo_stream_id(1))) == 1

    async def test_concurrent_appends_at_the_same_version_let_exactly_one_win(
        self, store: EventStore
    ) -> None:
        async def append() -> str:
            try:
                async with store.transaction() as conn:
                    await store.append(
                        conn, todo_stream_id(7), 0, [created(7)], origin=ANONYMOUS_ORIGIN
                    )
            except ConcurrencyError:
                return "conflict"
            return "ok"

        outcomes = await asyncio.gather(*(append() for _ in range(5)))

        assert sorted(outcomes) == ["conflict"] * 4 + ["ok"]
        assert len(await store.load(todo_stream_id(7))) == 1


class TestTransactions:
    async def test_a_rolled_back_append_leaves_no_event_and_no_outbox_row(
        self, store: EventStore
    ) -> None:
        async def append_then_fail() -> None:
            async with store.transaction() as conn:
                await store.append(
                    conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN
                )
                raise RuntimeError("projection failed")

        with pytest.raises(RuntimeError, match="projection failed"):
            await append_then_fail()

        assert await store.load(todo_stream_id(1)) == []
        assert await count(store, "outbox") == 0

    async def test_every_append_is_queued_in_the_outbox_until_marked_published(
        self, store: EventStore
    ) -> None:
        async with store.transaction() as conn:
            await store.append(conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN)
            await store.append(conn, todo_stream_id(2), 0, [created(2)], origin=ANONYMOUS_ORIGIN)

        outbox = SqlOutbox(store)
        batch = await outbox.pending()
        assert len(batch) == 2
        assert [message.type for message in batch] == ["TodoCreated", "TodoCreated"]
        await outbox.mark_published([batch[0].position])

        remaining = await outbox.pending()
        assert [message.position for message in remaining] == [batch[1].position]
        assert await outbox.backlog() == 1

    async def test_only_routed_event_types_are_queued_but_every_event_is_stored(
        self, store: EventStore
    ) -> None:
        routed = EventStore(store.engine, store.tables, routed={"TodoDeleted"})
        async with routed.transaction() as conn:
            await routed.append(conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN)
            await routed.append(
                conn,
                todo_stream_id(1),
                1,
                [TodoDeleted(id=1, deleted_at=NOW)],
                origin=ANONYMOUS_ORIGIN,
            )

        assert [message.type for message in await SqlOutbox(routed).pending()] == ["TodoDeleted"]
        assert [event.type for event in await routed.load(todo_stream_id(1))] == [
            "TodoCreated",
            "TodoDeleted",
        ]


class TestOutboxListeners:
    async def test_a_commit_that_queued_events_tells_the_listeners_its_rows_after_it(
        self, store: EventStore
    ) -> None:
        calls: list[list[OutboxRow]] = []
        store.on_outbox_commit(lambda rows: calls.append(list(rows)))

        async with store.transaction() as conn:
            await store.append(conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN)
            await store.append(conn, todo_stream_id(2), 0, [created(2)], origin=ANONYMOUS_ORIGIN)
            assert calls == [], "called before the commit"

        # the rows as the outbox holds them, which the relay may send without reading them back
        stored = await SqlOutbox(store).pending()
        assert calls == [[OutboxRow(row.position, row.type, row.body) for row in stored]]
        assert [row.type for row in calls[0]] == ["TodoCreated", "TodoCreated"]

    async def test_a_rollback_or_a_commit_without_outbox_rows_calls_nobody(
        self, store: EventStore
    ) -> None:
        calls: list[Sequence[OutboxRow]] = []
        store.on_outbox_commit(calls.append)
        unrouted = EventStore(store.engine, store.tables, routed=set())
        unrouted.on_outbox_commit(calls.append)

        async def append_then_fail() -> None:
            async with store.transaction() as conn:
                await store.append(
                    conn, todo_stream_id(1), 0, [created(1)], origin=ANONYMOUS_ORIGIN
                )
                raise RuntimeError("projection failed")

        with pytest.raises(RuntimeError):
            await append_then_fail()
        async with unrouted.transaction() as conn:
            await unrouted.append(conn, todo_stream_id(2), 0, [created(2)], origin=ANONYMOUS_ORIGIN)
        async with store.transaction() as conn:
            imported = wrap(
                created(3), stream_id=todo_stream_id(3), stream_version=1, origin=ANONYMOUS_ORIGIN
            )
            await store.insert(conn, [imported], publish=False)

        assert calls == []


class TestInbox:
    async def test_records_an_event_once_per_consumer(self, store: EventStore) -> None:
        event_id = uuid4()
        async with store.transaction() as conn:
            inbox = store.tables.inbox
            first = await record_processed(conn, inbox, "tracker", event_id)
            again = await record_processed(conn, inbox, "tracker", event_id)
            other = await record_processed(conn, inbox, "worker", event_id)

        assert (first, again, other) == (True, False, True)


class TestSchemaVersion:
    async def test_refuses_tables_of_another_schema_version(self, database: Settings) -> None:
        metadata = MetaData()
        store_tables(metadata, "versioned")
        engine = create_engine(database)
        schema = database.database_schema
        try:
            await ensure_schema(engine, metadata, owner="versioned", version=1, schema=schema)
            await ensure_schema(engine, metadata, owner="versioned", version=1, schema=schema)
            with pytest.raises(SchemaMismatchError, match="version 1"):
                await ensure_schema(engine, metadata, owner="versioned", version=2, schema=schema)
        finally:
            await engine.dispose()
