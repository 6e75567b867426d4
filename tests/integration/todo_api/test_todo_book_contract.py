"""The todo service's records port, one contract: the database (SQLite, PostgreSQL) and the
in-memory fake the unit tests of the command handlers use (tests/support/fakes.py). A book acts
as one principal: each tenant sees its own todos, jobs and keys only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from services.todo_api.projection import seed_todo_ids
from services.todo_api.records import KeyUses, SqlTodoBook, TodoBook
from services.todo_api.tables import SCHEMA
from shared.contracts.events import (
    CalendarCancelled,
    IdempotencyKeyUsed,
    TodoCreated,
    TodoDeleted,
    TodoUpdated,
)
from shared.eventstore.store import ConcurrencyError
from shared.settings import Settings
from tests.support.factories import NOW, calendar_requested, todo_snapshot
from tests.support.fakes import MemoryTodoBook
from tests.support.stores import service_store
from tests.support.tenants import ACME, GLOBEX


@pytest.fixture
async def book(backend: Settings | None) -> AsyncIterator[TodoBook]:
    if backend is None:
        yield MemoryTodoBook()
        return
    async with service_store(backend, SCHEMA) as store:
        async with store.engine.begin() as conn:
            # the service creates its id counter at start-up (app.py)
            await seed_todo_ids(conn)
        yield SqlTodoBook(store)


def created(todo_id: int, **fields: object) -> TodoCreated:
    return TodoCreated(todo=todo_snapshot(todo_id, **fields))


class TestTodoRecords:
    async def test_ids_are_handed_out_in_turn_and_never_again(self, book: TodoBook) -> None:
        async with book.transaction() as records:
            first, second = await records.next_id(), await records.next_id()
        async with book.transaction() as records:
            await records.record(second, 0, [created(second)])
            await records.record(second, 1, [TodoDeleted(id=second, deleted_at=NOW)])
        async with book.transaction() as records:
            third = await records.next_id()

        assert (first, second, third) == (1, 2, 3)

    async def test_recorded_events_are_the_history_and_the_list_follows_them(
        self, book: TodoBook
    ) -> None:
        renamed = todo_snapshot(1, title="Renamed")
        async with book.transaction() as records:
            await records.record(1, 0, [created(1)])
            await records.record(2, 0, [created(2)])
            await records.record(3, 0, [created(3)])
        async with book.transaction() as records:
            await records.record(1, 1, [TodoUpdated(todo=renamed, changed=("title",))])
            await records.record(2, 1, [TodoDeleted(id=2, deleted_at=NOW)])
            history = await records.history(1)

        assert [event.type for event in history] == ["TodoCreated", "TodoUpdated"]
        # the list read with the version of each todo's stream it shows, as references
        assert await book.snapshot() == ([renamed, todo_snapshot(3)], "1:2,3:1")

    async def test_a_version_taken_already_conflicts_and_rolls_its_transaction_back(
        self, book: TodoBook
    ) -> None:
        async with book.transaction() as records:
            await records.record(1, 0, [created(1)])

        async def take_an_id_and_create_again() -> None:
            async with book.transaction() as records:
                await records.next_id()
                await records.record(1, 0, [created(1, title="Twice")])

        with pytest.raises(ConcurrencyError):
            await take_an_id_and_create_again()
        async with book.transaction() as records:
            history = await records.history(1)
            next_id = await records.next_id()

        assert history == [created(1)]
        assert (await book.snapshot()).todos == [todo_snapshot(1)]
        assert next_id == 1

    async def test_a_todo_never_created_has_no_history(self, book: TodoBook) -> None:
        async with book.transaction() as records:
            assert await records.history(404) == []


class TestCalendarRequests:
    async def test_a_job_is_requested_once(self, book: TodoBook) -> None:
        request = calendar_requested((todo_snapshot(1),), task_id=uuid4())
        async with book.transaction() as records:
            await records.record_calendar_request(request)

        with pytest.raises(ConcurrencyError):
            async with book.transaction() as records:
                await records.record_calendar_request(request)
        # a calendar request is no todo: the list is unchanged
        assert (await book.snapshot()).todos == []

    async def test_a_job_is_cancelled_once_after_its_request(self, book: TodoBook) -> None:
        task_id = uuid4()
        request = calendar_requested((todo_snapshot(1),), task_id=task_id)
        cancel = CalendarCancelled(task_id=task_id, cancelled_at=NOW)
        async with book.transaction() as records:
            await records.record_calendar_request(request)
        async with book.transaction() as records:
            await records.record_calendar_cancel(cancel)

        with pytest.raises(ConcurrencyError):
            async with book.transaction() as records:
                await records.record_calendar_cancel(cancel)
        assert await book.calendar_job(task_id) == [request, cancel]

    async def test_a_request_named_by_references_is_kept_without_its_todos(
        self, book: TodoBook
    ) -> None:
        request = calendar_requested((todo_snapshot(1),), todo_refs="1:1")
        async with book.transaction() as records:
            await records.record_calendar_request(request)

        kept = await book.calendar_job(request.task_id)
        assert kept == [request.model_copy(update={"todos": None})]

    async def test_a_job_never_requested_has_no_events(self, book: TodoBook) -> None:
        assert await book.calendar_job(uuid4()) == []


class TestKeyUses:
    async def test_a_key_s_uses_are_read_back_in_order_and_conflict_on_their_version(
        self, book: TodoBook
    ) -> None:
        first = IdempotencyKeyUsed(key="k", request_sha256="a", status=201, todo_id=1, used_at=NOW)
        second = first.model_copy(update={"request_sha256": "b", "todo_id": 2})
        async with book.transaction() as records:
            await records.record_key_use(0, first)
        async with book.transaction() as records:
            await records.record_key_use(1, second)

        async def note_again() -> None:
            async with book.transaction() as records:
                await records.record_key_use(1, first)

        with pytest.raises(ConcurrencyError):
            await note_again()
        async with book.transaction() as records:
            inside = await records.key_uses("k")
        assert inside == await book.key_uses("k") == KeyUses((first, second), 2)
        assert await book.key_uses("another key") == KeyUses()


class TestTenants:
    async def test_each_tenant_lists_and_reads_its_own_todos_only(self, book: TodoBook) -> None:
        acme, globex = book.acting_as(ACME), book.acting_as(GLOBEX)
        async with acme.transaction() as records:
            await records.record(1, 0, [created(1)])
        async with globex.transaction() as records:
            await records.record(2, 0, [created(2)])
            acme_s_seen_by_globex = await records.history(1)
        async with acme.transaction() as records:
            acme_s = await records.history(1)

        assert (await acme.snapshot()).todos == [todo_snapshot(1)]
        assert (await globex.snapshot()).todos == [todo_snapshot(2)]
        assert (acme_s, acme_s_seen_by_globex) == ([created(1)], [])

    async def test_ids_are_one_sequence_across_tenants(self, book: TodoBook) -> None:
        async with book.acting_as(ACME).transaction() as records:
            acme_s = await records.next_id()
        async with book.acting_as(GLOBEX).transaction() as records:
            globex_s = await records.next_id()

        assert (acme_s, globex_s) == (1, 2)

    async def test_a_calendar_job_is_the_requesting_tenant_s(self, book: TodoBook) -> None:
        request = calendar_requested((todo_snapshot(1),), task_id=uuid4())
        async with book.acting_as(ACME).transaction() as records:
            await records.record_calendar_request(request)

        assert await book.acting_as(ACME).calendar_job(request.task_id) == [request]
        assert await book.acting_as(GLOBEX).calendar_job(request.task_id) == []

    async def test_a_key_s_uses_are_the_tenant_s(self, book: TodoBook) -> None:
        acme_s = IdempotencyKeyUsed(key="k", request_sha256="a", status=201, todo_id=1, used_at=NOW)
        globex_s = acme_s.model_copy(update={"todo_id": 2})
        async with book.acting_as(ACME).transaction() as records:
            await records.record_key_use(0, acme_s)
        async with book.acting_as(GLOBEX).transaction() as records:
            unused_here = await records.key_uses("k")
            # the first use of the key in this tenant: no conflict with the other's
            await records.record_key_use(0, globex_s)

        assert unused_here == KeyUses()
        assert (await book.acting_as(ACME).key_uses("k")).uses == (acme_s,)
        assert (await book.acting_as(GLOBEX).key_uses("k")).uses == (globex_s,)
