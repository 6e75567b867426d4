"""`make run` beside the practical's design, in one session on this machine: the only figures that
mean anything on hosts whose speed moves 2-3x from day to day are ratios measured side by side.

The practical's design (Flask on gunicorn with 2 sync workers, Celery prefork with concurrency 2,
Redis, PostgreSQL) is started from ../shared/reference/practical (PRACTICAL_DIR) with its own
scripts, on a fresh database; `make run` on a fresh VAR_DIR, once per EMBEDDED_PROCESSES layout
measured. One black-box driver, over HTTP on loopback, for both, in alternating rounds:

- creates and gets of todos, 16 clients;
- a burst: 200 calendar jobs of 100 todos submitted at once by 16 clients, each job then polled
  every 10 ms with at most 8 polls in flight, or every 50 ms with at most 16 (the two patterns),
  or, on `make run` only, watched on its event stream;
- latency: 40 jobs in a row, each polled every 5 ms, or watched on its event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.jobs import create_todos, rates, timed
from bench.stacks import embedded_stack
from shared.contracts.responses import TERMINAL_STATUSES

ROOT = Path(__file__).resolve().parents[1]
PRACTICAL_DIR = Path(os.environ.get("PRACTICAL_DIR", ROOT.parent / "shared/reference/practical"))
PRACTICAL_URL = "http://127.0.0.1:6400"
ROUNDS = 3
CLIENTS = 16
JOBS = 200
TODOS = 100
RATE_REQUESTS = 1600
LATENCY_JOBS = 40
JOB_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Following:
    """How a client learns that its job has finished."""

    name: str
    poll_every_s: float | None = None
    polls_in_flight: int = 0

    @property
    def watches(self) -> bool:
        return self.poll_every_s is None


POLL_10 = Following("poll 10 ms, <= 8 in flight", 0.010, 8)
POLL_50 = Following("poll 50 ms, <= 16 in flight", 0.050, 16)
WATCH = Following("watch the event stream")
POLL_5 = Following("poll 5 ms", 0.005, 1)


async def measure(base_url: str, followings: tuple[Following, ...]) -> dict[str, float]:
    """One round's figures on the system at `base_url`, by name."""
    figures: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        figures |= await _rates(session, base_url)
        await create_todos(session, base_url, TODOS)
        for following in followings:
            rate, p50 = await burst(session, base_url, following)
            figures[f"jobs/s, {following.name}"] = rate
            figures[f"burst p50 ms, {following.name}"] = p50
        for following in (POLL_5, WATCH) if WATCH in followings else (POLL_5,):
            figures[f"latency p50 ms, {following.name}"] = await _latency(
                session, base_url, following
            )
    return figures


async def _rates(session: aiohttp.ClientSession, base_url: str) -> dict[str, float]:
    creates, gets, created = await rates(session, base_url, RATE_REQUESTS, CLIENTS)
    # the rate round's todos would swell every calendar: delete them (not timed)
    await timed(CLIENTS, [_delete(session, base_url, todo_id) for todo_id in created])
    return {"creates/s": creates, "gets/s": gets}


async def _delete(session: aiohttp.ClientSession, base_url: str, todo_id: int) -> None:
    async with session.delete(f"{base_url}/api/v1/todos/{todo_id}") as response:
        response.raise_for_status()


async def burst(
    session: aiohttp.ClientSession, base_url: str, following: Following
) -> tuple[float, float]:
    """JOBS jobs submitted at once by CLIENTS clients, each followed to SUCCESS: jobs/s from the
    first POST to the last SUCCESS seen, and the median of POST to SUCCESS seen."""
    polls = asyncio.Semaphore(following.polls_in_flight or JOBS)
    follower = _follower(session, following, polls)
    samples: list[float] = []

    async def client(share: int) -> None:
        followed = []
        for _ in range(share):
            started = time.perf_counter()
            task_url = await _submit(session, base_url)
            followed.append(asyncio.create_task(_timed(follower(task_url), started, samples)))
        await asyncio.gather(*followed)

    started = time.perf_counter()
    shares = [JOBS // CLIENTS + (1 if n < JOBS % CLIENTS else 0) for n in range(CLIENTS)]
    await asyncio.gather(*(client(share) for share in shares))
    return JOBS / (time.perf_counter() - started), statistics.median(samples) * 1000


async def latency_p50(base_url: str) -> float:
    """TODOS todos, then LATENCY_JOBS jobs one at a time, each polled every 5 ms: their p50 in ms
    from POST to SUCCESS seen (the latency row of the side-by-side table)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await create_todos(session, base_url, TODOS)
        return await _latency(session, base_url, POLL_5)


async def _latency(session: aiohttp.ClientSession, base_url: str, following: Following) -> float:
    follower = _follower(session, following, asyncio.Semaphore(1))
    samples: list[float] = []
    for _ in range(LATENCY_JOBS + 1):
        started = time.perf_counter()
        await _timed(follower(await _submit(session, base_url)), started, samples)
    # the first is a warm-up
    return statistics.median(samples[1:]) * 1000


async def _timed(follow: Awaitable[None], started: float, samples: list[float]) -> None:
    await follow
    samples.append(time.perf_counter() - started)


async def _submit(session: aiohttp.ClientSession, base_url: str) -> str:
    async with session.post(f"{base_url}/api/v1/todos/ical") as response:
        response.raise_for_status()
        return str((await response.json())["task_url"])


def _follower(
    session: aiohttp.ClientSession, following: Following, polls: asyncio.Semaphore
) -> Callable[[str], Awaitable[None]]:
    if following.watches:
        return lambda task_url: _watch(session, task_url)
    assert following.poll_every_s is not None
    interval_s = following.poll_every_s
    return lambda task_url: _poll(session, task_url, interval_s, polls)


async def _poll(
    session: aiohttp.ClientSession, task_url: str, interval_s: float, polls: asyncio.Semaphore
) -> None:
    async with asyncio.timeout(JOB_TIMEOUT_S):
        while True:
            async with polls, session.get(task_url) as response:
                status = (await response.json())["task_status"]
            if status in TERMINAL_STATUSES:
                _succeeded(status, task_url)
                return
            await asyncio.sleep(interval_s)


async def _watch(session: aiohttp.ClientSession, task_url: str) -> None:
    events_url = task_url.removesuffix("/status") + "/events"
    async with asyncio.timeout(JOB_TIMEOUT_S), session.get(events_url) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"data:"):
                status = json.loads(line[5:])["task_status"]
                if status in TERMINAL_STATUSES:
                    _succeeded(status, task_url)
                    return
    raise RuntimeError(f"the event stream of {task_url} ended before the job")


def _succeeded(status: str, task_url: str) -> None:
    if status != "SUCCESS":
        raise RuntimeError(f"job {status}: {task_url}")


def has_practical() -> bool:
    return (PRACTICAL_DIR / "start.sh").is_file()


@contextlib.asynccontextmanager
async def practical() -> AsyncIterator[str]:
    """The practical's design, started on an empty database by its own script, stopped after."""
    started = await asyncio.to_thread(_script, "start.sh", {"SEED_RESET_DB": "1"})
    if started.returncode != 0:
        raise RuntimeError(f"the practical's design did not start:\n{started.stdout[-2000:]}")
    try:
        yield PRACTICAL_URL
    finally:
        await asyncio.to_thread(_script, "stop.sh", {})


def _script(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRACTICAL_DIR / name)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@dataclass(frozen=True)
class Contender:
    name: str
    system: Callable[[], contextlib.AbstractAsyncContextManager[str]]
    followings: tuple[Following, ...]


def contenders(layouts: tuple[int, ...]) -> list[Contender]:
    """The practical's design, then `make run` in each layout."""
    ours = [
        Contender(
            f"make run, {n} process{'es' if n > 1 else ''}", _make_run(n), (POLL_10, POLL_50, WATCH)
        )
        for n in layouts
    ]
    return [Contender("practical", practical, (POLL_10, POLL_50)), *ours]


def _make_run(processes: int) -> Callable[[], contextlib.AbstractAsyncContextManager[str]]:
    @contextlib.asynccontextmanager
    async def system() -> AsyncIterator[str]:
        async with embedded_stack(settings={"EMBEDDED_PROCESSES": str(processes)}) as stack:
            yield stack.url

    return system


async def side_by_side(layouts: tuple[int, ...]) -> str:
    """ROUNDS alternating rounds; the medians, and each `make run` figure over the practical's."""
    if not has_practical():
        return f"side by side: skipped, the practical's design is not at {PRACTICAL_DIR}"
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(ROUNDS):
        for contender in contenders(layouts):
            async with contender.system() as base_url:
                figures = await measure(base_url, contender.followings)
            runs.setdefault(contender.name, []).append(figures)
    return _table(runs)


def _table(runs: dict[str, list[dict[str, float]]]) -> str:
    medians = {
        name: {key: statistics.median(run[key] for run in rounds) for key in rounds[0]}
        for name, rounds in runs.items()
    }
    base = medians["practical"]
    names = list(medians)
    keys = list(dict.fromkeys(key for figures in medians.values() for key in figures))
    lines = [
        f"side by side, medians of {ROUNDS} alternating rounds ({JOBS} jobs of {TODOS} todos, "
        f"{CLIENTS} clients); ratio = make run / practical (for p50, lower is better):",
        "  " + " | ".join(["measure", *names]),
    ]
    for key in keys:
        cells = [key]
        for name in names:
            value = medians[name].get(key)
            if value is None:
                cells.append("-")
                continue
            ratio = "" if name == "practical" or key not in base else f" ({value / base[key]:.2f}x)"
            cells.append(f"{value:.1f}{ratio}")
        lines.append("  " + " | ".join(cells))
    return "\n".join(lines)
