"""`export` / `import`: JSON Lines out of one store and into an empty one, idempotently."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from scripts.replay.archive import export_events
from services.job_tracker.tables import jobs
from services.todo_api.commands import CreateTodo
from services.todo_api.handlers import create_todo
from services.todo_api.projection import list_todos
from services.todo_api.records import SqlTodoBook
from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, ANONYMOUS_TENANT
from shared.eventstore.queries import EventFilter
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.replay_stack import Stack, open_service_store
from tests.support.stores import deleted, until_blocked_or_done


@pytest.fixture
async def elsewhere(database: Settings, tmp_path: Path) -> AsyncIterator[list[str]]:
    """Command-line options naming an empty database for `import`: another file or schema."""
    if database.is_sqlite:
        yield ["--database-url", f"sqlite+aiosqlite:///{tmp_path}/elsewhere/{{service}}.db"]
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield ["--database-url", POSTGRES_URL, "--database-schema", schema]
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def target(options: list[str], service: str) -> list[str]:
    return [option.replace("{service}", service) for option in options]


def target_settings(stack: Stack, options: list[str], service: str) -> Settings:
    pairs = dict(zip(options[::2], target(options, service)[1::2], strict=True))
    return stack.base.model_copy(
        update={
            "database_url": pairs["--database-url"],
            "database_schema": pairs.get("--database-schema"),
        }
    )


class TestExportImport:
    async def test_import_into_an_empty_store_reproduces_the_projections(
        self, replay_stack: Stack, tmp_path: Path, elsewhere: list[str]
    ) -> None:
        await replay_stack.create_todos(3)
        await replay_stack.request_calendars(2)
        await replay_stack.settle()
        results: dict[str, tuple[int, str, str]] = {}
        for service in ("todo_api", "job_tracker"):
            archive = tmp_path / f"{service}.jsonl"
            exported = await replay_stack.replay(
                "export", "--service", service, "--output", str(archive)
            )
            assert exported.status == 0, exported.err
            options = target(elsewhere, service)
            first = await replay_stack.replay(
                "import", "--service", service, "--input", str(archive), *options
            )
            second = await replay_stack.replay(
                "import", "--service", service, "--input", str(archive), *options
            )
            results[service] = (first.status, first.out, second.out)
        expected_todos, expected_jobs = await replay_stack.todos(), await replay_stack.jobs()
        restored_todos, next_id = await self.todos_at(replay_stack, elsewhere)
        restored_jobs = await self.jobs_at(replay_stack, elsewhere)

        assert restored_todos == expected_todos
        # ids carry on after the imported ones
        assert next_id == 4
        assert restored_jobs == expected_jobs
        todo_status, todo_out, todo_again = results["todo_api"]
        assert todo_status == 0
        # three todos created, two calendars requested
        assert "imported 5 events into todo_api, skipped 0" in todo_out
        assert "imported 0 events into todo_api, skipped 5" in todo_again
        # requested and ready for each calendar (a small one records no start)
        assert "imported 4 events into job_tracker, skipped 0" in results["job_tracker"][1]

    async def todos_at(self, stack: Stack, options: list[str]) -> tuple[object, int]:
        settings = target_settings(stack, options, "todo_api")
        store = await open_service_store(settings, "todo_api", stack.var_dir)
        try:
            async with store.engine.connect() as conn:
                todos = await list_todos(conn, tenant=ANONYMOUS_TENANT)
            created = await create_todo(CreateTodo(title="new here"), SqlTodoBook(store))
            return todos, created.id
        finally:
            await store.engine.dispose()

    async def jobs_at(self, stack: Stack, options: list[str]) -> object:
        settings = target_settings(stack, options, "job_tracker")
        store = await open_service_store(settings, "job_tracker", stack.var_dir)
        try:
            async with store.engine.connect() as conn:
                rows = (await conn.execute(jobs.select())).mappings().all()
        finally:
            await store.engine.dispose()
        return {row["task_id"]: {k: v for k, v in row.items() if k != "updated_at"} for row in rows}

    async def test_a_dry_run_import_counts_and_changes_nothing(
        self, replay_stack: Stack, tmp_path: Path
    ) -> None:
        await replay_stack.create_todos(2)
        archive = tmp_path / "todos.jsonl"
        await replay_stack.replay("export", "--service", "todo_api", "--output", str(archive))
        await replay_stack.create_todos(1)
        ran = await replay_stack.replay(
            "import", "--service", "todo_api", "--input", str(archive), "--dry-run"
        )
        count = await replay_stack.event_count("todo_api")

        assert ran.status == 0, ran.err
        assert "dry run: would import 0 events into todo_api, skipped 2" in ran.out
        assert count == 3

    async def test_export_selects_one_calendar_job(
        self, replay_stack: Stack, tmp_path: Path
    ) -> None:
        await replay_stack.create_todos(1)
        [task_id, _other] = await replay_stack.request_calendars(2)
        await replay_stack.settle()
        archive = tmp_path / "job.jsonl"
        ran = await replay_stack.replay(
            "export",
            "--service",
            "job_tracker",
            "--task",
            str(task_id),
            "--output",
            str(archive),
        )

        lines = [json.loads(line) for line in archive.read_text().splitlines()]
        assert ran.status == 0, ran.err
        # the tracker stores events in the order they arrived, which SQS does not promise
        assert sorted(line["type"] for line in lines) == ["CalendarReady", "CalendarRequested"]
        assert {line["data"]["task_id"] for line in lines} == {str(task_id)}

    async def test_a_line_that_is_not_an_event_stops_the_import_with_its_number(
        self, replay_stack: Stack, tmp_path: Path
    ) -> None:
        archive = tmp_path / "bad.jsonl"
        archive.write_text('{"event_id": "nope"}\n')
        ran = await replay_stack.replay("import", "--service", "todo_api", "--input", str(archive))

        assert ran.status == 1
        assert ran.err.startswith("import failed: line 1 is not an event")
        assert len(ran.err.strip().splitlines()) == 1


class TestExportWhileWritersCommit:
    async def test_an_event_that_commits_after_a_later_one_is_exported(
        self, postgres_todo_store: EventStore, postgres_schema: str
    ) -> None:
        store, out = postgres_todo_store, io.StringIO()
        async with store.engine.connect() as early:
            transaction = await early.begin()
            # takes the lower position but commits last
            await store.append(early, todo_stream_id(1), 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)
            async with store.transaction() as late:
                await store.append(
                    late, todo_stream_id(2), 0, [deleted(2)], origin=ANONYMOUS_ORIGIN
                )
            exporting = asyncio.create_task(export_events(store, EventFilter(), out))
            await until_blocked_or_done(store.engine, postgres_schema, exporting)
            await transaction.commit()
            written = await exporting

        streams = [json.loads(line)["stream_id"] for line in out.getvalue().splitlines()]
        assert written == 2
        assert streams == [todo_stream_id(1), todo_stream_id(2)]
