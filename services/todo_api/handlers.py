"""One function per command: load, decide, append with the projection, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from services.todo_api import todo
from services.todo_api.commands import CreateTodo, DeleteTodo, RequestCalendar, UpdateTodo
from services.todo_api.projection import list_todos, next_todo_id, project
from shared.blobs import BlobStore
from shared.claim_check import check_in
from shared.clock import utcnow
from shared.events import TodoSnapshot
from shared.store import ConcurrencyError, EventStore

logger = logging.getLogger(__name__)
T = TypeVar("T")
# a conflict means another request changed the todo first: decide again on the new state
MAX_ATTEMPTS = 5


async def create_todo(command: CreateTodo, store: EventStore) -> TodoSnapshot:
    async with store.transaction() as conn:
        todo_id = await next_todo_id(conn)
        events = todo.create(command, todo_id, utcnow())
        await project(conn, await store.append(conn, todo.stream_id(todo_id), 0, events))
    return todo.check_exists(todo.fold(events, start=None))


async def update_todo(command: UpdateTodo, store: EventStore) -> TodoSnapshot:
    async def attempt(conn: AsyncConnection) -> TodoSnapshot:
        state, version = await _load(conn, store, command.todo_id)
        events = todo.update(state, command, utcnow())
        stream = todo.stream_id(command.todo_id)
        await project(conn, await store.append(conn, stream, version, events))
        return todo.check_exists(todo.fold(events, start=state))

    return await _with_retries(store, attempt)


async def delete_todo(command: DeleteTodo, store: EventStore) -> TodoSnapshot:
    async def attempt(conn: AsyncConnection) -> TodoSnapshot:
        state, version = await _load(conn, store, command.todo_id)
        events = todo.delete(state, utcnow())
        stream = todo.stream_id(command.todo_id)
        await project(conn, await store.append(conn, stream, version, events))
        return todo.check_exists(state)

    return await _with_retries(store, attempt)


async def _load(conn: AsyncConnection, store: EventStore, todo_id: int) -> tuple[todo.Todo, int]:
    envelopes = await store.load(todo.stream_id(todo_id), conn)
    return todo.fold(envelope.data for envelope in envelopes), len(envelopes)


async def _with_retries(store: EventStore, attempt: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    for number in range(1, MAX_ATTEMPTS):
        try:
            async with store.transaction() as conn:
                return await attempt(conn)
        except ConcurrencyError:
            logger.debug("concurrent change, deciding again (attempt %d)", number)
    # the last attempt lets a conflict reach the caller, who answers 409
    async with store.transaction() as conn:
        return await attempt(conn)


async def request_calendar(command: RequestCalendar, store: EventStore, blobs: BlobStore) -> None:
    async with store.reading() as conn:
        snapshot = await list_todos(conn)
    event = todo.request_calendar(command, snapshot, utcnow())
    # a large snapshot goes to S3 before the write transaction, which never waits on S3
    event = await check_in(event, blobs)
    async with store.transaction() as conn:
        stream = todo.calendar_stream_id(command)
        await store.append(conn, stream, 0, [event], correlation_id=command.task_id)
