"""`make run` in several processes (EMBEDDED_PROCESSES): the system answers as in one; a stop
reaches every process; a process that dies takes the whole run down with a message naming it;
children whose parent is killed stop on their own. Never half a system."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import Service, process_tree
from tests.support.todo_http import TODOS

STOP_S = 30
LAYOUT_CHILDREN = {"2": 2, "3": 3}


@pytest.fixture(params=sorted(LAYOUT_CHILDREN))
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def supervised(tmp_path: Path, layout: str) -> Iterator[Service]:
    env = {
        "TRANSPORT": "embedded",
        "VAR_DIR": str(tmp_path / "var"),
        "EMBEDDED_AWS_PORT": "0",
        "METRICS_PORT": "0",
        "EMBEDDED_PROCESSES": layout,
        "LOG_LEVEL": "INFO",
    }
    service = Service("embedded", env, tmp_path / "embedded.log")
    service.start()
    try:
        service.wait_healthy()
        yield service
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()


def children_of(service: Service) -> list[int]:
    """The processes hosting services (not multiprocessing's resource tracker)."""
    assert service.process is not None
    return [
        pid
        for pid in process_tree(service.process.pid)[1:]
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return False


async def test_a_job_runs_across_the_processes_and_a_stop_ends_them_all(
    supervised: Service, layout: str
) -> None:
    children = children_of(supervised)
    async with aiohttp.ClientSession(supervised.url) as http:
        async with http.post(TODOS, json={"title": "across"}) as created:
            assert created.status == 201
        async with http.post(f"{TODOS}/ical") as asked:
            task_url = (await asked.json())["task_url"]
        status = ""
        for _ in range(200):
            async with http.get(task_url) as answer:
                status = (await answer.json())["task_status"]
            if status == "SUCCESS":
                break
            await asyncio.sleep(0.05)

    code = supervised.terminate()

    assert len(children) == LAYOUT_CHILDREN[layout]
    assert status == "SUCCESS"
    assert code == 0, supervised.log()
    assert gone(children, STOP_S)
    assert f"in {LAYOUT_CHILDREN[layout]} processes" in supervised.log_path.read_text()


def test_a_child_that_dies_takes_the_run_down_naming_it(supervised: Service) -> None:
    assert supervised.process is not None
    children = children_of(supervised)
    os.kill(children[0], signal.SIGKILL)

    code = supervised.process.wait(timeout=STOP_S)

    assert code == 1
    whole_log = supervised.log_path.read_text()
    assert "process stopped on its own (exit code -9); stopping TaskOverflow" in whole_log
    assert gone(children, STOP_S)


def test_children_stop_when_the_parent_is_killed(supervised: Service) -> None:
    children = children_of(supervised)

    supervised.kill()

    assert gone(children, STOP_S)


def test_a_ctrl_c_reaching_every_process_at_once_is_a_clean_stop(supervised: Service) -> None:
    assert supervised.process is not None
    children = children_of(supervised)
    # what a terminal's Ctrl-C does: SIGINT to each process of the foreground group
    for pid in [*children, supervised.process.pid]:
        os.kill(pid, signal.SIGINT)

    code = supervised.process.wait(timeout=STOP_S)

    assert code == 0, supervised.log()
    assert gone(children, STOP_S)
    assert "stopping TaskOverflow" not in supervised.log_path.read_text()
