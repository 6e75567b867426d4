"""A tenant's list kept under its version (services/todo_api/list_snapshots.py), on SQLite and
PostgreSQL: handed out again while the list stands, read again after any change, whichever
process made it and whenever it committed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from rich.console import Console
from sqlalchemy import update

from scripts.replay.projections import PROJECTIONS
from scripts.replay.rebuild import rebuild
from services.todo_api.list_snapshots import ListSnapshots
from services.todo_api.projection import ListSnapshot, snapshot_todos
from services.todo_api.records import SqlTodoBook
from services.todo_api.tables import todos
from shared.auth.principal import Principal
from shared.contracts.events import TodoCreated, TodoDeleted, TodoUpdated
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.factories import NOW, todo_snapshot
from tests.support.stores import todo_api_store
from tests.support.tenants import ACME, GLOBEX

QUIET = Console(quiet=True)


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    async with todo_api_store(database) as store:
        yield store


class CountedReads:
    """The list's real read, counted; `after_read` runs once, after the first (a commit that
    lands between the read and the keeping of what it read)."""

    def __init__(self, after_read: Callable[[], Awaitable[None]] | None = None) -> None:
        self.count = 0
        self._after_read = after_read

    async def __call__(self, store: EventStore, tenant: str) -> ListSnapshot:
        self.count += 1
        listed = await snapshot_todos(store, tenant=tenant)
        if self._after_read is not None:
            after, self._after_read = self._after_read, None
            await after()
        return listed


async def create(store: EventStore, principal: Principal, *titles: str) -> None:
    async with SqlTodoBook(store).acting_as(principal).transaction() as records:
        for title in titles:
            todo_id = await records.next_id()
            await records.record(
                todo_id, 0, [TodoCreated(todo=todo_snapshot(todo_id, title=title))]
            )


def titles(listed: ListSnapshot) -> list[str]:
    return [todo.title for todo in listed.todos]


async def test_a_list_that_stands_is_read_once_and_handed_out_whole_each_time(
    store: EventStore,
) -> None:
    await create(store, ACME, "a", "b")
    reads = CountedReads()
    lists = ListSnapshots(read_list=reads)

    first = await lists.of(store, "acme")
    first.todos.clear()
    second = await lists.of(store, "acme")

    assert reads.count == 1
    assert titles(second) == ["a", "b"]
    assert second.refs == (await snapshot_todos(store, tenant="acme")).refs


async def test_each_change_to_the_list_is_in_the_next_one_handed_out(store: EventStore) -> None:
    await create(store, ACME, "a", "b")
    reads = CountedReads()
    lists = ListSnapshots(read_list=reads)
    book = SqlTodoBook(store).acting_as(ACME)
    seen = [titles(await lists.of(store, "acme"))]

    async with book.transaction() as records:
        renamed = todo_snapshot(1, title="a renamed")
        await records.record(1, 1, [TodoUpdated(todo=renamed, changed=("title",))])
    seen.append(titles(await lists.of(store, "acme")))
    async with book.transaction() as records:
        await records.record(2, 1, [TodoDeleted(id=2, deleted_at=NOW)])
    seen.append(titles(await lists.of(store, "acme")))
    await create(store, ACME, "c")
    seen.append(titles(await lists.of(store, "acme")))

    assert seen == [["a", "b"], ["a renamed", "b"], ["a renamed"], ["a renamed", "c"]]
    assert reads.count == 4


async def test_a_change_made_by_another_replica_is_in_the_next_one_handed_out(
    store: EventStore, database: Settings
) -> None:
    await create(store, ACME, "a")
    lists = ListSnapshots()
    before = titles(await lists.of(store, "acme"))

    # another process on the same database: an engine and a store of its own
    async with todo_api_store(database) as elsewhere:
        await create(elsewhere, ACME, "made elsewhere")

    assert before == ["a"]
    assert titles(await lists.of(store, "acme")) == ["a", "made elsewhere"]


async def test_a_change_committed_while_the_list_is_read_is_in_the_next_one_handed_out(
    store: EventStore,
) -> None:
    await create(store, ACME, "a")
    reads = CountedReads(after_read=lambda: create(store, ACME, "committed meanwhile"))
    lists = ListSnapshots(read_list=reads)

    first = titles(await lists.of(store, "acme"))
    second = titles(await lists.of(store, "acme"))
    third = titles(await lists.of(store, "acme"))

    # the first read began before the change; it was kept under the version read before it,
    # which the change moved on
    assert first == ["a"]
    assert second == third == ["a", "committed meanwhile"]
    assert reads.count == 2


async def test_each_tenant_is_handed_its_own_list(store: EventStore) -> None:
    await create(store, ACME, "acme's")
    await create(store, GLOBEX, "globex's")
    lists = ListSnapshots()

    listed = [titles(await lists.of(store, tenant)) for tenant in ("acme", "globex") * 2]

    assert listed == [["acme's"], ["globex's"]] * 2


async def test_a_tenant_that_never_wrote_has_an_empty_list_read_each_time(
    store: EventStore,
) -> None:
    reads = CountedReads()
    lists = ListSnapshots(read_list=reads)

    listed = [await lists.of(store, "newcomer") for _ in range(2)]

    assert [titles(each) for each in listed] == [[], []]
    # no version row yet: nothing to keep it under
    assert reads.count == 2


async def test_a_rebuild_that_mends_the_rows_is_in_the_next_list_handed_out(
    store: EventStore,
) -> None:
    await create(store, ACME, "from the log")
    # the rows drift from the log without a change of the list's own (a fault, a manual edit)
    async with store.transaction() as conn:
        await conn.execute(update(todos).values(title="drifted"))
    lists = ListSnapshots()
    drifted = titles(await lists.of(store, "acme"))

    await rebuild(store, PROJECTIONS["todo_api"], QUIET)

    # kept under the version it was read at, which the rebuild moved on
    assert drifted == ["drifted"]
    assert titles(await lists.of(store, "acme")) == ["from the log"]


async def test_a_list_too_long_to_keep_is_read_each_time(store: EventStore) -> None:
    await create(store, ACME, "a", "b", "c")
    reads = CountedReads()
    lists = ListSnapshots(max_list=2, read_list=reads)

    for _ in range(2):
        await lists.of(store, "acme")

    assert reads.count == 2


async def test_past_the_bound_the_list_asked_for_longest_ago_is_let_go(
    store: EventStore,
) -> None:
    await create(store, ACME, "a", "b")
    await create(store, GLOBEX, "c", "d")
    reads = CountedReads()
    lists = ListSnapshots(max_todos=3, read_list=reads)

    await lists.of(store, "acme")
    await lists.of(store, "globex")
    reads_before = reads.count
    await lists.of(store, "globex")
    await lists.of(store, "acme")

    # globex's two todos pushed acme's two out: globex is kept, acme read again
    assert reads_before == 2
    assert reads.count == 3
