"""A calendar request's snapshot is kept once (SQLite, PostgreSQL): the outbox publishes the
todos, the log keeps references to the todo streams, and republish makes the request whole again,
exactly as published, whatever happened to the todos since and whatever raced the request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from sqlalchemy import select

from services.todo_api import handlers
from services.todo_api.commands import CreateTodo, DeleteTodo, RequestCalendar, UpdateTodo
from services.todo_api.projection import seed_todo_ids
from services.todo_api.records import SqlTodoBook
from services.todo_api.snapshots import SnapshotGoneError, published_form
from services.todo_api.tables import SCHEMA
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarRequested
from shared.contracts.streams import calendar_stream_id, todo_stream_id
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.stores import service_store

BOARD = 100


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    async with service_store(database, SCHEMA) as opened:
        async with opened.transaction() as conn:
            await seed_todo_ids(conn)
        yield opened


async def request(book: SqlTodoBook) -> Envelope:
    task_id = await handlers.request_calendar(RequestCalendar(uuid4()), book, InMemoryBlobStore())
    (logged,) = await book._store.load(calendar_stream_id(task_id))
    return logged


async def published(store: EventStore) -> dict[str, tuple[Envelope, int]]:
    """What the outbox holds to publish, by event id, with the log row's size."""
    events, outbox = store.tables.events, store.tables.outbox
    query = select(outbox.c.body, events.c.body).join(
        events, events.c.position == outbox.c.position
    )
    async with store.reading() as conn:
        rows = (await conn.execute(query.where(outbox.c.type == "CalendarRequested"))).all()
    found = {}
    for sent, kept in rows:
        envelope = Envelope.from_json(sent)
        found[str(envelope.event_id)] = (envelope, len(kept.encode()))
    return found


async def test_the_log_keeps_references_and_republish_gets_back_what_was_published(
    store: EventStore,
) -> None:
    book = SqlTodoBook(store)
    for n in range(BOARD):
        await handlers.create_todo(CreateTodo(title=f"todo {n}", description="d" * 60), book)
    await handlers.update_todo(UpdateTodo(40, {"title": "renamed"}), book)
    logged = await request(book)
    # what happens to the todos after the request never changes its calendar
    await handlers.update_todo(UpdateTodo(41, {"completed": True}), book)
    await handlers.delete_todo(DeleteTodo(42), book)

    sent, kept_bytes = (await published(store))[str(logged.event_id)]
    assert isinstance(logged.data, CalendarRequested)
    assert (logged.data.todos, logged.data.todo_refs) == (None, "1-39:1,40:2,41-100:1")
    assert isinstance(sent.data, CalendarRequested)
    assert sent.data.todos is not None
    assert len(sent.data.todos) == BOARD
    assert kept_bytes < 1024 < len(sent.to_json().encode()) // 20
    assert await published_form(store, [logged]) == [sent]


async def test_requests_racing_edits_are_made_whole_as_they_were_published(
    store: EventStore,
) -> None:
    book = SqlTodoBook(store)
    for n in range(20):
        await handlers.create_todo(CreateTodo(title=f"todo {n}"), book)

    async def edit(n: int) -> None:
        await handlers.update_todo(UpdateTodo(n % 20 + 1, {"title": f"edit {n}"}), book)

    # whatever the interleaving, each request's references name exactly the todos it sent
    logged = await asyncio.gather(
        *(request(book) for _ in range(10)), *(edit(n) for n in range(40))
    )
    requests = [envelope for envelope in logged if isinstance(envelope, Envelope)]
    sent = await published(store)

    assert len(requests) == 10
    made_whole = await published_form(store, requests)
    assert made_whole == [sent[str(envelope.event_id)][0] for envelope in requests]


async def test_a_request_whose_todo_versions_are_missing_is_refused(store: EventStore) -> None:
    book = SqlTodoBook(store)
    await handlers.create_todo(CreateTodo(title="only"), book)
    logged = await request(book)
    async with store.transaction() as conn:
        events = store.tables.events
        await conn.execute(events.delete().where(events.c.stream_id == todo_stream_id(1)))

    with pytest.raises(SnapshotGoneError, match="todo 1 at version 1"):
        await published_form(store, [logged])


async def test_an_empty_list_is_published_and_made_whole_as_empty(store: EventStore) -> None:
    logged = await request(SqlTodoBook(store))

    (whole,) = await published_form(store, [logged])
    assert isinstance(whole.data, CalendarRequested)
    assert (whole.data.todos, whole.data.todo_count) == ((), 0)
