"""`rebuild`: a drifted projection is refolded from the event log and swapped in atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, delete, insert, update

from scripts.replay.projections import PROJECTIONS
from scripts.replay.rebuild import _lock_writers, _swap
from services.job_tracker.tables import jobs
from services.todo_api.commands import CreateTodo
from services.todo_api.handlers import create_todo
from services.todo_api.tables import todos
from shared.clock import utcnow
from shared.settings import Settings
from shared.store import EventStore
from tests.integration.test_replay_stack import Stack, running_stack, stack_settings


async def corrupt_todos(stack: Stack) -> None:
    """One row edited, one lost, one that no event ever made."""
    now = utcnow()
    async with stack.stores["todo_api"].transaction() as conn:
        await conn.execute(update(todos).where(todos.c.id == 1).values(title="drifted"))
        await conn.execute(delete(todos).where(todos.c.id == 2))
        await conn.execute(
            insert(todos).values(
                id=99, title="ghost", completed=False, created_at=now, updated_at=now
            )
        )


class TestRebuildTodos:
    async def test_rebuild_restores_corrupted_rows_and_reports_the_difference(
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            await stack.create_todos(3)
            expected = await stack.todos()
            await corrupt_todos(stack)

            ran = await stack.replay("rebuild", "--service", "todo_api")
            rebuilt = await stack.todos()
            # a second rebuild finds nothing to mend (and the swap works again)
            again = await stack.replay("rebuild", "--service", "todo_api")
            created = await create_todo(CreateTodo(title="after"), stack.stores["todo_api"])

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
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            await stack.create_todos(3)
            await corrupt_todos(stack)
            corrupted = await stack.todos()

            ran = await stack.replay("rebuild", "--service", "todo_api", "--dry-run")

            assert ran.status == 0, ran.err
            assert "1 rows missing (would be restored): 2" in ran.out
            assert await stack.todos() == corrupted


class TestRebuildJobs:
    async def test_rebuild_restores_a_corrupted_job_from_the_trackers_own_log(
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            await stack.create_todos(1)
            [task_id, _other] = await stack.request_calendars(2)
            await stack.settle()
            expected = await stack.jobs()
            async with stack.stores["job_tracker"].transaction() as conn:
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.task_id == str(task_id))
                    .values(status="FAILURE", error="drifted")
                )

            ran = await stack.replay("rebuild", "--service", "job_tracker")

            assert ran.status == 0, ran.err
            assert await stack.jobs() == expected
            assert f"1 rows different from the event log (corrected): {task_id}" in ran.out

    async def test_a_service_without_a_projection_is_one_clear_line(
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            ran = await stack.replay("rebuild", "--service", "calendar_worker")

        assert ran.status == 1
        assert ran.err.strip() == (
            "rebuild failed: calendar_worker keeps no projection to rebuild "
            "(these do: todo_api, job_tracker)"
        )


class TestSwap:
    async def test_a_swap_that_fails_midway_leaves_the_live_projection_as_it_was(
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            await stack.create_todos(2)
            before = await stack.todos()
            store = stack.stores["todo_api"]
            live = PROJECTIONS["todo_api"].table
            rebuilt = live.to_metadata(MetaData(), name=f"{live.name}_rebuild")
            async with store.transaction() as conn:
                await conn.run_sync(rebuilt.create)

            with pytest.raises(RuntimeError, match="crash"):
                await swap_then_crash(store, live, rebuilt)

            assert await stack.todos() == before


async def swap_then_crash(store: EventStore, live: Table, rebuilt: Table) -> None:
    async with store.transaction() as conn:
        await _lock_writers(conn, live)
        await _swap(conn, live, rebuilt)
        raise RuntimeError("crash after the swap, before the commit")
