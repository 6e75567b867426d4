"""The todo service's command handlers on the in-memory twins of its records and blob store.

The same records on SQLite and PostgreSQL: tests/integration/todo_api/test_todo_book_contract.py;
the handlers behind HTTP: tests/integration/todo_api/.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from uuid import uuid4

import pytest

from services.todo_api import handlers
from services.todo_api.commands import (
    CancelCalendar,
    CreateTodo,
    DeleteTodo,
    RequestCalendar,
    UpdateTodo,
)
from services.todo_api.handlers import (
    MAX_ATTEMPTS,
    cancel_calendar,
    create_todo,
    delete_todo,
    request_calendar,
    update_todo,
)
from services.todo_api.idempotency import KEY_WINDOW, KeyedRequest, KeyReusedError
from services.todo_api.records import KeyUses, TodoRecords
from services.todo_api.todo import (
    CalendarFinishedError,
    CalendarNotFoundError,
    TodoNotFoundError,
)
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.events import (
    AnyEvent,
    CalendarCancelled,
    CalendarRequested,
    IdempotencyKeyUsed,
)
from shared.contracts.streams import todo_stream_id
from shared.eventstore.store import ConcurrencyError
from shared.messaging.claim_check import INLINE_LIMIT_BYTES, snapshot_blob_key
from tests.support.fakes import MemoryTodoBook
from tests.support.tenants import ACME, GLOBEX


@pytest.fixture
def book() -> MemoryTodoBook:
    return MemoryTodoBook()


class TestTodoCommands:
    async def test_created_todos_get_ids_in_turn_and_join_the_list(
        self, book: MemoryTodoBook
    ) -> None:
        first = await create_todo(CreateTodo(title="Water the plants"), book)
        second = await create_todo(CreateTodo(title="Feed the cat", completed=True), book)

        assert (first.id, second.id) == (1, 2)
        assert (await book.snapshot()).todos == [first, second]

    async def test_an_update_changes_only_what_it_names(self, book: MemoryTodoBook) -> None:
        created = await create_todo(CreateTodo(title="Water", description="the ferns"), book)

        updated = await update_todo(UpdateTodo(created.id, {"completed": True}), book)

        assert (updated.title, updated.description, updated.completed) == (
            "Water",
            "the ferns",
            True,
        )
        assert (await book.snapshot()).todos == [updated]

    async def test_an_update_that_changes_nothing_records_nothing(
        self, book: MemoryTodoBook
    ) -> None:
        created = await create_todo(CreateTodo(title="Water"), book)

        await update_todo(UpdateTodo(created.id, {"title": "Water"}), book)

        assert len(book.state.streams[todo_stream_id(created.id)]) == 1

    async def test_a_deleted_todo_leaves_the_list_and_cannot_be_changed(
        self, book: MemoryTodoBook
    ) -> None:
        created = await create_todo(CreateTodo(title="Water"), book)

        deleted = await delete_todo(DeleteTodo(created.id), book)

        assert deleted == created
        assert (await book.snapshot()).todos == []
        with pytest.raises(TodoNotFoundError):
            await update_todo(UpdateTodo(created.id, {"completed": True}), book)
        with pytest.raises(TodoNotFoundError):
            await delete_todo(DeleteTodo(created.id), book)


class TestRetries:
    async def test_a_conflict_on_every_attempt_reaches_the_caller(self) -> None:
        book = ConflictingBook(conflicts=MAX_ATTEMPTS)
        created = await create_todo(CreateTodo(title="Water"), book)

        with pytest.raises(ConcurrencyError):
            await update_todo(UpdateTodo(created.id, {"title": "Never"}), book)
        assert book.attempts == MAX_ATTEMPTS
        assert (await book.snapshot()).todos == [created]

    async def test_a_conflict_short_of_the_limit_is_decided_again(self) -> None:
        book = ConflictingBook(conflicts=MAX_ATTEMPTS - 1)
        created = await create_todo(CreateTodo(title="Water"), book)

        updated = await update_todo(UpdateTodo(created.id, {"title": "At last"}), book)

        assert updated.title == "At last"
        assert book.attempts == MAX_ATTEMPTS
        assert (await book.snapshot()).todos == [updated]


class TestRequestCalendar:
    async def test_the_request_snapshots_the_list_as_it_is_now(self, book: MemoryTodoBook) -> None:
        todos = [await create_todo(CreateTodo(title=f"Todo {n}"), book) for n in range(3)]
        task_id = uuid4()

        await request_calendar(RequestCalendar(task_id), book, InMemoryBlobStore())
        await update_todo(UpdateTodo(todos[0].id, {"title": "Changed later"}), book)

        (queued,) = book.state.queued
        assert queued.correlation_id == task_id
        assert isinstance(queued.data, CalendarRequested)
        assert queued.data.todos == tuple(todos)
        assert queued.data.todo_count == 3

    async def test_a_snapshot_too_large_for_a_message_travels_through_the_blob_store(
        self, book: MemoryTodoBook
    ) -> None:
        blobs = InMemoryBlobStore()
        description = "x" * 2000
        count = INLINE_LIMIT_BYTES // len(description) + 1
        for n in range(count):
            await create_todo(CreateTodo(title=f"Todo {n}", description=description), book)

        await request_calendar(RequestCalendar(uuid4()), book, blobs)

        request = book.state.queued[0].data
        assert isinstance(request, CalendarRequested)
        assert (request.todos, request.todo_count) == (None, count)
        assert request.snapshot_key == snapshot_blob_key(request)
        assert len(await blobs.get(request.snapshot_key)) > INLINE_LIMIT_BYTES


@dataclass
class Tracker:
    """The job tracker as a cancel asks it: the job's task_status, and how often it was asked."""

    status: str = "PENDING"
    asked: int = 0

    async def __call__(self) -> str:
        self.asked += 1
        return self.status


class TestCancelCalendar:
    async def requested(self, book: MemoryTodoBook) -> CancelCalendar:
        command = RequestCalendar(task_id=uuid4())
        await request_calendar(command, book, InMemoryBlobStore())
        return CancelCalendar(task_id=command.task_id)

    async def test_a_job_not_finished_is_cancelled_after_its_request_and_queued_to_publish(
        self, book: MemoryTodoBook
    ) -> None:
        command = await self.requested(book)

        status = await cancel_calendar(command, book, Tracker("STARTED"))

        # the worker decides whether the cancel wins: the answer does not claim it did
        assert status == "STARTED"
        job = await book.calendar_job(command.task_id)
        assert [event.type for event in job] == ["CalendarRequested", "CalendarCancelled"]
        assert [envelope.type for envelope in book.state.queued][-1] == "CalendarCancelled"
        assert book.state.queued[-1].stream_version == 2
        assert book.state.queued[-1].correlation_id == command.task_id

    async def test_a_second_cancel_changes_nothing_and_answers_the_status_now(
        self, book: MemoryTodoBook
    ) -> None:
        command = await self.requested(book)
        await cancel_calendar(command, book, Tracker())

        status = await cancel_calendar(command, book, Tracker("REVOKED"))

        assert status == "REVOKED"
        assert [event.type for event in await book.calendar_job(command.task_id)] == [
            "CalendarRequested",
            "CalendarCancelled",
        ]

    async def test_a_cancel_that_lost_to_the_render_is_told_so_when_asked_again(
        self, book: MemoryTodoBook
    ) -> None:
        command = await self.requested(book)
        await cancel_calendar(command, book, Tracker("STARTED"))

        with pytest.raises(CalendarFinishedError):
            await cancel_calendar(command, book, Tracker("SUCCESS"))

    async def test_concurrent_cancels_record_one(self, book: MemoryTodoBook) -> None:
        command = await self.requested(book)

        await asyncio.gather(*(cancel_calendar(command, book, Tracker()) for _ in range(5)))

        queued = [envelope.type for envelope in book.state.queued]
        assert queued.count("CalendarCancelled") == 1

    @pytest.mark.parametrize("status", ["SUCCESS", "FAILURE"])
    async def test_a_finished_job_is_not_cancelled(self, book: MemoryTodoBook, status: str) -> None:
        command = await self.requested(book)

        with pytest.raises(CalendarFinishedError):
            await cancel_calendar(command, book, Tracker(status))

        assert [event.type for event in await book.calendar_job(command.task_id)] == [
            "CalendarRequested"
        ]

    async def test_a_job_never_requested_here_is_not_found(self, book: MemoryTodoBook) -> None:
        tracker = Tracker()

        with pytest.raises(CalendarNotFoundError):
            await cancel_calendar(CancelCalendar(task_id=uuid4()), book, tracker)

        assert (book.state.queued, tracker.asked) == ([], 0)


class TestIdempotencyKeys:
    async def test_a_retried_create_answers_the_first_todo_and_creates_nothing(
        self, book: MemoryTodoBook
    ) -> None:
        keyed = KeyedRequest.of("create-1", "POST", "/api/v1/todos", '{"title":"Water"}')
        first = await create_todo(CreateTodo(title="Water"), book, keyed)
        await update_todo(UpdateTodo(first.id, {"title": "Changed since"}), book)

        again = await create_todo(CreateTodo(title="Water"), book, keyed)

        assert again == first
        assert [todo.id for todo in (await book.snapshot()).todos] == [first.id]

    async def test_the_key_with_another_request_is_refused(self, book: MemoryTodoBook) -> None:
        await create_todo(CreateTodo(title="Water"), book, KeyedRequest("k", "digest-1"))

        with pytest.raises(KeyReusedError):
            await create_todo(CreateTodo(title="Feed"), book, KeyedRequest("k", "digest-2"))
        assert len((await book.snapshot()).todos) == 1

    async def test_a_key_older_than_its_window_answers_afresh(
        self, book: MemoryTodoBook, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        keyed = KeyedRequest("k", "digest")
        first = await create_todo(CreateTodo(title="Water"), book, keyed)
        later = utcnow() + KEY_WINDOW
        monkeypatch.setattr(handlers, "utcnow", lambda: later)

        second = await create_todo(CreateTodo(title="Water"), book, keyed)

        assert second.id != first.id

    async def test_a_retried_calendar_request_answers_the_first_job(
        self, book: MemoryTodoBook
    ) -> None:
        keyed = KeyedRequest.of("ical-1", "POST", "/api/v1/todos/ical")
        first, second = RequestCalendar(uuid4()), RequestCalendar(uuid4())

        answers = [
            await request_calendar(command, book, InMemoryBlobStore(), keyed)
            for command in (first, second)
        ]

        assert answers == [first.task_id, first.task_id]
        assert [queued.correlation_id for queued in book.state.queued] == [first.task_id]


class TestTenants:
    async def test_another_tenant_s_todo_is_not_found_and_stays_as_it_is(
        self, book: MemoryTodoBook
    ) -> None:
        acme_s = await create_todo(CreateTodo(title="Water"), book.acting_as(ACME))
        globex = book.acting_as(GLOBEX)

        with pytest.raises(TodoNotFoundError):
            await update_todo(UpdateTodo(acme_s.id, {"title": "Taken"}), globex)
        with pytest.raises(TodoNotFoundError):
            await delete_todo(DeleteTodo(acme_s.id), globex)

        assert (await book.acting_as(ACME).snapshot()).todos == [acme_s]
        assert len(book.state.streams[todo_stream_id(acme_s.id)]) == 1

    async def test_every_event_names_the_acting_principal_s_tenant_and_actor(
        self, book: MemoryTodoBook
    ) -> None:
        acme = book.acting_as(ACME)
        created = await create_todo(CreateTodo(title="Water"), acme)
        await update_todo(UpdateTodo(created.id, {"completed": True}), acme)
        await delete_todo(DeleteTodo(created.id), acme)

        origins = {(e.tenant, e.actor) for e in book.state.streams[todo_stream_id(created.id)]}
        assert origins == {(ACME.tenant, ACME.subject)}

    async def test_a_calendar_request_snapshots_the_requester_s_todos_only(
        self, book: MemoryTodoBook
    ) -> None:
        acme, globex = book.acting_as(ACME), book.acting_as(GLOBEX)
        acme_s = await create_todo(CreateTodo(title="Acme's"), acme)
        await create_todo(CreateTodo(title="Globex's"), globex)

        await request_calendar(RequestCalendar(uuid4()), acme, InMemoryBlobStore())

        (queued,) = book.state.queued
        assert isinstance(queued.data, CalendarRequested)
        assert (queued.data.todos, queued.data.todo_count) == ((acme_s,), 1)
        assert (queued.tenant, queued.actor) == (ACME.tenant, ACME.subject)

    async def test_another_tenant_s_job_is_not_found_and_the_tracker_not_asked(
        self, book: MemoryTodoBook
    ) -> None:
        command = RequestCalendar(task_id=uuid4())
        await request_calendar(command, book.acting_as(ACME), InMemoryBlobStore())
        tracker = Tracker()

        with pytest.raises(CalendarNotFoundError):
            await cancel_calendar(CancelCalendar(command.task_id), book.acting_as(GLOBEX), tracker)

        assert tracker.asked == 0
        assert [envelope.type for envelope in book.state.queued] == ["CalendarRequested"]

    async def test_one_key_in_two_tenants_makes_two_todos(self, book: MemoryTodoBook) -> None:
        keyed = KeyedRequest.of("create-1", "POST", "/api/v1/todos", '{"title":"Water"}')

        acme_s = await create_todo(CreateTodo(title="Water"), book.acting_as(ACME), keyed)
        globex_s = await create_todo(CreateTodo(title="Water"), book.acting_as(GLOBEX), keyed)
        acme_s_again = await create_todo(CreateTodo(title="Water"), book.acting_as(ACME), keyed)

        assert acme_s.id != globex_s.id
        assert acme_s_again == acme_s
        assert (await book.acting_as(GLOBEX).snapshot()).todos == [globex_s]


class ConflictingBook(MemoryTodoBook):
    """Records on which the first `conflicts` updates find another change recorded first."""

    def __init__(self, conflicts: int) -> None:
        super().__init__()
        self.conflicts = conflicts
        self.attempts = 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[TodoRecords]:
        async with super().transaction() as records:
            yield ConflictingRecords(records, self)


@dataclass
class ConflictingRecords:
    records: TodoRecords
    book: ConflictingBook

    async def next_id(self) -> int:
        return await self.records.next_id()

    async def history(self, todo_id: int) -> list[AnyEvent]:
        return await self.records.history(todo_id)

    async def record(self, todo_id: int, version: int, events: Sequence[AnyEvent]) -> None:
        if version > 0:
            self.book.attempts += 1
            if self.book.attempts <= self.book.conflicts:
                raise ConcurrencyError(f"todo-{todo_id} version {version + 1} exists")
        await self.records.record(todo_id, version, events)

    async def record_calendar_request(self, event: CalendarRequested) -> None:
        await self.records.record_calendar_request(event)

    async def record_calendar_cancel(self, event: CalendarCancelled) -> None:
        await self.records.record_calendar_cancel(event)

    async def key_uses(self, key: str) -> KeyUses:
        return await self.records.key_uses(key)

    async def record_key_use(self, version: int, event: IdempotencyKeyUsed) -> None:
        await self.records.record_key_use(version, event)
