"""One function per command: load, decide, record (events and list together), in one transaction.

Each decides against the records port (records.py): the database, or a test's in-memory twin.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.todo_api import todo
from services.todo_api.commands import (
    CancelCalendar,
    CreateTodo,
    DeleteTodo,
    RequestCalendar,
    UpdateTodo,
)
from services.todo_api.records import TodoBook, TodoRecords
from shared.blobs import BlobStore
from shared.claim_check import check_in
from shared.clock import utcnow
from shared.contract import TERMINAL_STATUSES
from shared.events import TodoSnapshot
from shared.store import ConcurrencyError

logger = logging.getLogger(__name__)
T = TypeVar("T")
# a conflict means another request changed the todo first: decide again on the new state
MAX_ATTEMPTS = 5
# the job's task_status, as the job tracker answers it
JobStatus = Callable[[], Awaitable[str]]
# a job in one of these states has its outcome: too late to cancel
FINISHED_STATUSES = TERMINAL_STATUSES - {"REVOKED"}


async def create_todo(command: CreateTodo, book: TodoBook) -> TodoSnapshot:
    async with book.transaction() as records:
        todo_id = await records.next_id()
        events = todo.create(command, todo_id, utcnow())
        await records.record(todo_id, 0, events)
    return todo.check_exists(todo.fold(events, start=None))


async def update_todo(command: UpdateTodo, book: TodoBook) -> TodoSnapshot:
    async def attempt(records: TodoRecords) -> TodoSnapshot:
        state, version = await _load(records, command.todo_id)
        events = todo.update(state, command, utcnow())
        await records.record(command.todo_id, version, events)
        return todo.check_exists(todo.fold(events, start=state))

    return await _with_retries(book, attempt)


async def delete_todo(command: DeleteTodo, book: TodoBook) -> TodoSnapshot:
    async def attempt(records: TodoRecords) -> TodoSnapshot:
        state, version = await _load(records, command.todo_id)
        events = todo.delete(state, utcnow())
        await records.record(command.todo_id, version, events)
        return todo.check_exists(state)

    return await _with_retries(book, attempt)


async def _load(records: TodoRecords, todo_id: int) -> tuple[todo.Todo, int]:
    history = await records.history(todo_id)
    return todo.fold(history), len(history)


async def _with_retries(book: TodoBook, attempt: Callable[[TodoRecords], Awaitable[T]]) -> T:
    for number in range(1, MAX_ATTEMPTS):
        try:
            async with book.transaction() as records:
                return await attempt(records)
        except ConcurrencyError:
            logger.debug("concurrent change, deciding again (attempt %d)", number)
    # the last attempt lets a conflict reach the caller, who answers 409
    async with book.transaction() as records:
        return await attempt(records)


async def request_calendar(command: RequestCalendar, book: TodoBook, blobs: BlobStore) -> None:
    event = todo.request_calendar(command, await book.todos(), utcnow())
    # a large snapshot goes to S3 before the write transaction, which never waits on S3
    event = await check_in(event, blobs)
    async with book.transaction() as records:
        await records.record_calendar_request(event)


async def cancel_calendar(command: CancelCalendar, book: TodoBook, job_status: JobStatus) -> None:
    """Record the job's cancel, once; CalendarNotFoundError for a job never requested here,
    CalendarFinishedError for one with its outcome (which only the tracker knows)."""
    cancel = todo.cancel_calendar(await book.calendar_job(command.task_id), command, utcnow())
    if cancel is None:
        return
    if await job_status() in FINISHED_STATUSES:
        raise todo.CalendarFinishedError
    try:
        async with book.transaction() as records:
            await records.record_calendar_cancel(cancel)
    except ConcurrencyError:
        # a concurrent cancel of the same job took the version: it is cancelled all the same
        logger.debug("calendar %s cancelled by a concurrent request", command.task_id)
