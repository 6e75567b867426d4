"""`status`, and how every subcommand fails: one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.support.replay_stack import Stack, run_replay


class TestStatus:
    async def test_shows_events_backlogs_checkpoints_and_queue_depths(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(2)
        await replay_stack.request_calendars(1)
        await replay_stack.publish_todo_events()
        # waits in the outbox (todo changes do not go there: no queue subscribes to them)
        await replay_stack.request_calendars(1)

        ran = await replay_stack.replay("status")

        assert ran.status == 0, ran.err
        rows = {line.split("│")[1].strip(): line for line in ran.out.splitlines() if "│" in line}
        todo_api = [cell.strip() for cell in rows["todo_api"].split("│")[1:-1]]
        worker = [cell.strip() for cell in rows["calendar_worker"].split("│")[1:-1]]
        tracker = [cell.strip() for cell in rows["job_tracker"].split("│")[1:-1]]
        # service, events, last position, outbox, inbox, queue, DLQ
        assert todo_api[1:4] == ["4", "4", "1"]
        assert worker[5] == "1 waiting, 0 in flight"
        assert tracker[5] == "1 waiting, 0 in flight"
        assert tracker[6] == "0 waiting, 0 in flight"

    async def test_an_unreachable_endpoint_is_named_and_the_exit_is_non_zero(
        self, replay_stack: Stack
    ) -> None:
        ran = await replay_stack.replay(
            "status", "--service", "job_tracker", "--endpoint-url", "http://127.0.0.1:9"
        )

        assert ran.status == 1
        assert "job_tracker queues: AWS endpoint unreachable" in ran.out


class TestErrors:
    @pytest.mark.parametrize(
        ("argv", "status", "message"),
        [
            (["rebuild", "--service", "nope"], 1, "rebuild failed: unknown service 'nope'"),
            (
                [
                    "republish",
                    "--service",
                    "todo_api",
                    "--from-position",
                    "9",
                    "--to-position",
                    "3",
                ],
                2,
                "bad range: --to-position 3 is before --from-position 9",
            ),
            (
                ["export", "--service", "todo_api", "--type", "TodoFinished"],
                2,
                "unknown event type 'TodoFinished'",
            ),
            (["export", "--service", "todo_api", "--since", "yesterday"], 2, "--since"),
            (["import", "--service", "todo_api", "--input", "/no/such/file"], 1, "cannot read"),
        ],
    )
    async def test_bad_requests_are_one_line(
        self, tmp_path: Path, argv: list[str], status: int, message: str
    ) -> None:
        ran = await run_replay(Settings(), tmp_path, *argv)

        assert ran.status == status
        assert message in ran.err
        assert len(ran.err.strip().splitlines()) == 1

    async def test_an_unreachable_database_is_one_line(self, tmp_path: Path) -> None:
        url = "postgresql+asyncpg://nobody@127.0.0.1:9/none"
        ran = run_cli(tmp_path, "export", "--service", "todo_api", "--database-url", url)

        assert ran.returncode == 1
        assert ran.stderr.startswith("export failed: ")
        assert len(ran.stderr.strip().splitlines()) == 1

    def test_the_module_exits_with_one_line_and_no_traceback(self, tmp_path: Path) -> None:
        ran = run_cli(tmp_path, "status", "--service", "nope")

        assert ran.returncode == 1
        assert ran.stderr.strip() == (
            "status failed: unknown service 'nope': "
            "choose one of todo_api, calendar_worker, job_tracker"
        )
        assert "Traceback" not in ran.stdout + ran.stderr


def run_cli(var_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-m", "scripts.replay", *argv],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
