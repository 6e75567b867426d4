"""One function per command: load, decide, record (events and list together), in one transaction.

Each decides against the records port (records.py): the database, or a test's in-memory twin.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from services.todo_api import todo
from services.todo_api.commands import (
    CancelCalendar,
    CreateTodo,
    DeleteTodo,
    RequestCalendar,
    UpdateTodo,
)
from services.todo_api.idempotency import KeyedRequest, earlier_answer
from services.todo_api.records import KeyUses, TodoBook, TodoRecords
from shared.aws.blobs import BlobStore
from shared.clock import utcnow
from shared.contracts.events import IdempotencyKeyUsed, TodoSnapshot
from shared.contracts.responses import TERMINAL_STATUSES
from shared.eventstore.store import ConcurrencyError
from shared.messaging.claim_check import check_in

logger = logging.getLogger(__name__)
T = TypeVar("T")
# a conflict means another request changed the todo first: decide again on the new state
MAX_ATTEMPTS = 5
# the job's task_status, as the job tracker answers it
JobStatus = Callable[[], Awaitable[str]]
# a job in one of these states has its outcome: too late to cancel
FINISHED_STATUSES = TERMINAL_STATUSES - {"REVOKED"}


async def create_todo(
    command: CreateTodo, book: TodoBook, keyed: KeyedRequest | None = None
) -> TodoSnapshot:
    """The new todo; with a key it answered within its window, that first todo, as created."""

    async def attempt(records: TodoRecords) -> TodoSnapshot:
        now = utcnow()
        uses = KeyUses() if keyed is None else await records.key_uses(keyed.key)
        earlier = None if keyed is None else earlier_answer(uses.uses, keyed, now)
        if earlier is not None and earlier.todo_id is not None:
            return todo.check_exists(todo.fold((await records.history(earlier.todo_id))[:1]))
        todo_id = await records.next_id()
        events = todo.create(command, todo_id, now)
        await records.record(todo_id, 0, events)
        if keyed is not None:
            used = _key_used(keyed, now, status=201, todo_id=todo_id)
            await records.record_key_use(uses.version, used)
        return todo.check_exists(todo.fold(events, start=None))

    # a concurrent request with the same key took its use first: the retry answers as it did
    return await _with_retries(book, attempt)


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


async def request_calendar(
    command: RequestCalendar,
    book: TodoBook,
    blobs: BlobStore,
    keyed: KeyedRequest | None = None,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> UUID:
    """The job's task id: the command's, or with a key it answered within its window, the job
    that answer started (no second job). `admit` is asked before a new job is recorded, and
    raises to record nothing."""
    if keyed is not None and (earlier := await _earlier_job(book, keyed)) is not None:
        return earlier
    if admit is not None:
        await admit()
    listed = await book.snapshot()
    event = todo.request_calendar(command, listed.todos, listed.refs, utcnow())
    # a large snapshot goes to S3 before the write transaction, which never waits on S3
    event = await check_in(event, blobs)
    try:
        async with book.transaction() as records:
            if keyed is not None:
                uses = await records.key_uses(keyed.key)
                if (earlier := _job_of(earlier_answer(uses.uses, keyed, utcnow()))) is not None:
                    return earlier
                used = _key_used(keyed, event.requested_at, status=202, task_id=command.task_id)
                await records.record_key_use(uses.version, used)
            await records.record_calendar_request(event)
    except ConcurrencyError:
        # a concurrent request with the same key noted its job first: that job is the answer
        if keyed is None or (earlier := await _earlier_job(book, keyed)) is None:
            raise
        return earlier
    return command.task_id


async def _earlier_job(book: TodoBook, keyed: KeyedRequest) -> UUID | None:
    return _job_of(earlier_answer((await book.key_uses(keyed.key)).uses, keyed, utcnow()))


def _job_of(answer: IdempotencyKeyUsed | None) -> UUID | None:
    return None if answer is None else answer.task_id


def _key_used(keyed: KeyedRequest, now: datetime, **answer: Any) -> IdempotencyKeyUsed:
    return IdempotencyKeyUsed(
        key=keyed.key, request_sha256=keyed.request_sha256, used_at=now, **answer
    )


async def cancel_calendar(command: CancelCalendar, book: TodoBook, job_status: JobStatus) -> str:
    """Record the job's cancel, once; the job's status as the tracker tells it now.

    Whether the cancel wins is the calendar worker's to decide (the render may end first): the
    status is REVOKED once it has, and until then the job's status before the cancel took effect.
    CalendarNotFoundError for a job never requested here, CalendarFinishedError for one with its
    outcome.
    """
    cancel = todo.cancel_calendar(await book.calendar_job(command.task_id), command, utcnow())
    status = await job_status()
    if status in FINISHED_STATUSES:
        raise todo.CalendarFinishedError
    if cancel is None:
        return status
    try:
        async with book.transaction() as records:
            await records.record_calendar_cancel(cancel)
    except ConcurrencyError:
        # a concurrent cancel of the same job took the version: it is requested all the same
        logger.debug("calendar %s cancelled by a concurrent request", command.task_id)
    return status
