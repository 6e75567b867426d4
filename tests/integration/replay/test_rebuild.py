"""`rebuild`: a drifted projection is refolded from the event log and swapped in atomically."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from scripts.replay import rebuild
from scripts.replay.projections import PROJECTIONS
from services.job_tracker.tables import jobs
from services.todo_api import records, todo
from services.todo_api.commands import CreateTodo, DeleteTodo, UpdateTodo
from services.todo_api.handlers import create_todo, delete_todo, update_todo
from services.todo_api.projection import list_todos, project
from services.todo_api.records import SqlTodoBook, SqlTodoRecords
from services.todo_api.tables import todos
from services.todo_api.tool_face import TodoFold
from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.events import TodoSnapshot
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.eventstore.queries import EventQueries
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.replay_stack import Stack, open_service_store
from tests.support.stores import until_blocked_or_done

WRITERS = 8
# todos each writer changes in turn, so none is changed again right after a rebuild
OWNED = 3
REBUILDS = 10
# how long a writer may hold its transaction open, before and after projecting
HOLD_S = 0.02


async def corrupt_todos(stack: Stack) -> None:
    """One row edited, one lost, one that no event ever made."""
    now = utcnow()
    async with stack.stores["todo_api"].transaction() as conn:
        await conn.execute(update(todos).where(todos.c.id == 1).values(title="drifted"))
        await conn.execute(delete(todos).where(todos.c.id == 2))
        await conn.execute(
            insert(todos).values(
                id=99,
                tenant=ANONYMOUS_TENANT,
                title="ghost",
                completed=False,
                created_at=now,
                updated_at=now,
                stream_version=1,
            )
        )


class TestRebuildTodos:
    async def test_rebuild_restores_corrupted_rows_and_reports_the_difference(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(3)
        expected = await replay_stack.todos()
        await corrupt_todos(replay_stack)

        ran = await replay_stack.replay("rebuild", "--service", "todo_api")
        rebuilt = await replay_stack.todos()
        # a second rebuild finds nothing to mend (and the swap works again)
        again = await replay_stack.replay("rebuild", "--service", "todo_api")
        created = await create_todo(
            CreateTodo(title="after"), SqlTodoBook(replay_stack.stores["todo_api"])
        )

        assert ran.status == 0, ran.err
        assert rebuilt == expected
        assert "todo_api_todos: 3 rows before, 3 after" in ran.out
        assert "1 rows missing (restored): 2" in ran.out
        assert "1 rows not in the event log (removed): 99" in ran.out
        assert "1 rows different from the event log (corrected): 1" in ran.out
        assert again.status == 0, again.err
        assert "no difference" in again.out
        assert created.id == 4

    async def test_a_dry_run_shows_the_difference_and_changes_nothing(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(3)
        await corrupt_todos(replay_stack)
        corrupted = await replay_stack.todos()

        ran = await replay_stack.replay("rebuild", "--service", "todo_api", "--dry-run")

        assert ran.status == 0, ran.err
        assert "1 rows missing (would be restored): 2" in ran.out
        assert await replay_stack.todos() == corrupted


class TestRebuildJobs:
    async def test_rebuild_restores_a_corrupted_job_from_the_trackers_own_log(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(1)
        [task_id, _other] = await replay_stack.request_calendars(2)
        await replay_stack.settle()
        expected = await replay_stack.jobs()
        async with replay_stack.stores["job_tracker"].transaction() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.task_id == str(task_id))
                .values(status="FAILURE", error="drifted")
            )

        ran = await replay_stack.replay("rebuild", "--service", "job_tracker")

        assert ran.status == 0, ran.err
        assert await replay_stack.jobs() == expected
        assert f"1 rows different from the event log (corrected): {task_id}" in ran.out

    async def test_a_service_without_a_projection_is_one_clear_line(
        self, replay_stack: Stack
    ) -> None:
        ran = await replay_stack.replay("rebuild", "--service", "calendar_worker")

        assert ran.status == 1
        assert ran.err.strip() == (
            "rebuild failed: calendar_worker keeps no projection to rebuild "
            "(these do: todo_api, job_tracker)"
        )


class TestSwap:
    async def test_a_swap_that_fails_midway_leaves_the_live_projection_as_it_was(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(2)
        # the rebuilt rows differ from the live ones: a committed swap would show
        await corrupt_todos(replay_stack)
        before = await replay_stack.todos()
        crashing = dataclasses.replace(PROJECTIONS["todo_api"], after_swap=crash_after_the_swap)

        with pytest.raises(RuntimeError, match="crash"):
            await rebuild.rebuild(replay_stack.stores["todo_api"], crashing, Console(quiet=True))

        assert await replay_stack.todos() == before


async def crash_after_the_swap(_conn: AsyncConnection, _fold: object) -> None:
    """Runs in the swap's transaction, once the rebuilt table has taken the live one's name."""
    raise RuntimeError("crash after the swap, before the commit")


@pytest.fixture
async def todo_store(database: Settings, tmp_path: Path) -> AsyncIterator[EventStore]:
    store = await open_service_store(database, "todo_api", tmp_path)
    yield store
    await store.engine.dispose()


async def rebuild_todos(store: EventStore) -> None:
    await rebuild.rebuild(store, PROJECTIONS["todo_api"], Console(quiet=True))


async def retitle_in(conn: AsyncConnection, store: EventStore, todo_id: int, title: str) -> None:
    """What `update_todo` does, inside a transaction the caller commits."""
    inside = SqlTodoRecords(store, conn)
    history = await inside.history(todo_id)
    events = todo.update(todo.fold(history), UpdateTodo(todo_id, {"title": title}), utcnow())
    await inside.record(todo_id, len(history), events)


async def titles(store: EventStore) -> dict[int, str]:
    async with store.engine.connect() as conn:
        return {found.id: found.title for found in await list_todos(conn, tenant=ANONYMOUS_TENANT)}


async def folded_log(store: EventStore) -> list[TodoSnapshot]:
    """The todo list as the whole event log folds it."""
    fold, after = TodoFold(), 0
    while page := await EventQueries(store).read_all(after=after):
        for _, envelope in page:
            fold.apply(envelope)
        after = page[-1][0]
    return [fold.todos[key] for key in sorted(fold.todos)]


async def project_slowly(conn: AsyncConnection, envelopes: Iterable[Envelope]) -> None:
    """The service's projection, with the transaction held open before and after it."""
    envelopes = list(envelopes)
    # the event has its position, the projection is not written yet
    await asyncio.sleep(random.uniform(0, HOLD_S))
    await project(conn, envelopes)
    # both are written, the commit waits
    await asyncio.sleep(random.uniform(0, HOLD_S))


async def keep_writing(store: EventStore, owned: list[int], stop: asyncio.Event) -> None:
    """Retitle the writer's own todos in turn until stopped; every fourth step replaces one."""
    step = 0
    while not stop.is_set():
        step += 1
        if step % 4:
            todo_id = owned[step % len(owned)]
            await update_todo(UpdateTodo(todo_id, {"title": f"step {step}"}), SqlTodoBook(store))
        else:
            await delete_todo(DeleteTodo(owned.pop(0)), SqlTodoBook(store))
            owned.append(
                (await create_todo(CreateTodo(title=f"step {step}"), SqlTodoBook(store))).id
            )


async def rebuild_among_writers(store: EventStore, owned: list[list[int]]) -> None:
    """One rebuild while writers go on; they stop once it is done."""
    stop = asyncio.Event()
    writers = asyncio.gather(*(keep_writing(store, todo_ids, stop) for todo_ids in owned))
    try:
        # writes in flight before the rebuild starts, and all through it
        await asyncio.sleep(HOLD_S * 2)
        await rebuild_todos(store)
    finally:
        stop.set()
        await writers


class TestRebuildWhileWritersCommit:
    async def test_an_update_that_commits_after_a_later_one_is_not_lost(
        self, postgres_todo_store: EventStore, postgres_schema: str
    ) -> None:
        store = postgres_todo_store
        for title in ("one", "two"):
            await create_todo(CreateTodo(title=title), SqlTodoBook(store))
        async with store.engine.connect() as early:
            transaction = await early.begin()
            # takes the lower position but commits last
            await retitle_in(early, store, 1, "one, changed first")
            await update_todo(UpdateTodo(2, {"title": "two, changed second"}), SqlTodoBook(store))
            rebuilding = asyncio.create_task(rebuild_todos(store))
            await until_blocked_or_done(store.engine, postgres_schema, rebuilding)
            await transaction.commit()
            await rebuilding

        assert await titles(store) == {1: "one, changed first", 2: "two, changed second"}

    async def test_writes_committing_out_of_order_during_a_rebuild_all_stay_in_the_projection(
        self, todo_store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = todo_store
        owned = [
            [
                (await create_todo(CreateTodo(title="new"), SqlTodoBook(store))).id
                for _ in range(OWNED)
            ]
            for _ in range(WRITERS)
        ]
        monkeypatch.setattr(records, "project", project_slowly)
        # small pages: the unlocked fold takes many reads while the writers go on
        monkeypatch.setattr(rebuild, "PAGE", 10)
        # SQLite commits in position order anyway: a few rounds show the same holds there
        rounds = REBUILDS if store.engine.dialect.name == "postgresql" else 2
        for _ in range(rounds):
            await rebuild_among_writers(store, owned)

            async with store.engine.connect() as conn:
                kept_by_service = await list_todos(conn, tenant=ANONYMOUS_TENANT)
            # a later rebuild would mend what an earlier one lost: each is checked on its own
            assert kept_by_service == await folded_log(store)
            assert {found.id for found in kept_by_service} == set().union(*owned)
