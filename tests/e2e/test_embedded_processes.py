"""`make run` in several processes (EMBEDDED_PROCESSES): the system answers as in one; a stop
reaches every process; a process that dies takes the whole run down with a message naming it;
children whose parent is killed stop on their own. Never half a system. todo_api's outbox is
published from the tracker's process, nudged at once by todo_api's commits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.polling import eventually
from tests.support.processes import Service, process_tree
from tests.support.scrapes import Scrape
from tests.support.todo_http import TODOS

STOP_S = 30
LAYOUT_CHILDREN = {"2": 2, "3": 3}
KEEPALIVE_S = 60
# a relay finds new rows by its poll only this late: a job done sooner was published on a nudge
RELAY_POLL_S = 60
JOB_S = 20
# how often a stop may land inside another process's write before the test gives up
STOP_TRIES = 50
RELAY_METRICS = re.compile(r"todo_api's outbox is published from here; metrics: (\S+)")
TODO_API_METRICS = re.compile(r"metrics of todo_api, job_tracker, calendar_worker: (\S+),")


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
        # an event stream that is not told of a change reads its job again only this late
        "JOB_EVENTS_KEEPALIVE_MS": str(KEEPALIVE_S * 1000),
        "RELAY_POLL_INTERVAL_MS": str(RELAY_POLL_S * 1000),
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


async def test_todo_apis_outbox_is_published_from_the_trackers_process_at_each_commit(
    supervised: Service,
) -> None:
    async with aiohttp.ClientSession(supervised.url) as http:
        async with http.post(TODOS, json={"title": "relayed"}) as created:
            assert created.status == 201
        async with http.post(f"{TODOS}/ical") as asked:
            task_url = (await asked.json())["task_url"]

        async def succeeded() -> bool:
            return await _status(http, task_url) == "SUCCESS"

        await eventually(succeeded, JOB_S, interval_s=0.05)
        log = supervised.log_path.read_text()
        relay = await _scrape(http, _found(RELAY_METRICS, log))
        todo_api = await _scrape(http, _found(TODO_API_METRICS, log))

    assert relay.value("relay_events_published_total") == 1
    # the process taking requests publishes nothing, and still shows what waits to be
    assert todo_api.value("relay_events_published_total") is None
    assert todo_api.value("outbox_backlog_events") == 0


async def _status(http: aiohttp.ClientSession, task_url: str) -> str:
    async with http.get(task_url) as answer:
        return str((await answer.json())["task_status"])


def _found(pattern: re.Pattern[str], log: str) -> str:
    match = pattern.search(log)
    assert match is not None, log[-4000:]
    return match.group(1)


async def _scrape(http: aiohttp.ClientSession, url: str) -> Scrape:
    async with http.get(f"{url}/metrics") as answer:
        return Scrape.parse(await answer.text())


async def test_a_stream_on_todo_api_hears_the_tracker_fold_in_its_own_process(
    supervised: Service,
) -> None:
    # the first child started folds the jobs (with the worker beside it in the layout of 2)
    folding = children_of(supervised)[0]
    async with aiohttp.ClientSession(supervised.url) as http:
        async with http.post(TODOS, json={"title": "watched"}) as created:
            assert created.status == 201
        # it also runs todo_api's relay, which writes todo_api's file (its lease, its outbox)
        stop_outside_writes(folding, Path(supervised.env["VAR_DIR"]) / "todo_api.db")
        try:
            async with http.post(f"{TODOS}/ical") as asked:
                task_url = (await asked.json())["task_url"]
            events_url = task_url.removesuffix("/status") + "/events"
            async with http.get(events_url) as stream:
                first = await _next_status(stream)
                os.kill(folding, signal.SIGCONT)
                # told by the folding process, not found by the keep-alive's read a minute on
                async with asyncio.timeout(KEEPALIVE_S / 2):
                    statuses = [first]
                    while statuses[-1] != "SUCCESS":
                        statuses.append(await _next_status(stream))
        finally:
            os.kill(folding, signal.SIGCONT)

    assert first == "PENDING"
    assert statuses[-1] == "SUCCESS"


def stop_outside_writes(pid: int, database: Path) -> None:
    """Stop `pid` at a moment it holds no write lock on the SQLite file `database`: stopped inside
    a write, it would keep every other writer of the file waiting until they answer 503."""
    for _ in range(STOP_TRIES):
        os.kill(pid, signal.SIGSTOP)
        # the signal is delivered asynchronously: every thread is stopped before the lock is asked
        while not all(_stopped(task) for task in Path(f"/proc/{pid}/task").iterdir()):
            time.sleep(0.001)
        if not _write_locked(database):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"process {pid} held the write lock of {database} at every stop")


def _stopped(task: Path) -> bool:
    try:
        # the state follows the command's closing parenthesis
        return (task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except FileNotFoundError:
        return True


def _write_locked(database: Path) -> bool:
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return True
    finally:
        probe.close()


async def _next_status(stream: aiohttp.ClientResponse) -> str:
    async for line in stream.content:
        if line.startswith(b"data:"):
            return str(json.loads(line[5:])["task_status"])
    raise AssertionError("the event stream ended before its job")


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


def test_the_children_run_as_batch_so_a_woken_one_does_not_preempt_its_waker(
    supervised: Service,
) -> None:
    children = children_of(supervised)

    for child in children:
        policies = set()
        for task in Path(f"/proc/{child}/task").iterdir():
            # a short-lived thread (a pool's) may end between the listing and the question
            with contextlib.suppress(ProcessLookupError):
                policies.add(os.sched_getscheduler(int(task.name)))
        assert policies == {os.SCHED_BATCH}
