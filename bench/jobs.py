"""Calendar job latency and throughput over HTTP, as a client of the public API sees them."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp

from shared.contracts.responses import TERMINAL_STATUSES

POLL_INTERVAL_S = 0.005
THROUGHPUT_JOBS = 200


async def create_todos(session: aiohttp.ClientSession, base_url: str, count: int) -> None:
    for number in range(count):
        body = {"title": f"Todo {number}", "deadline_at": "2026-12-01T09:00:00"}
        async with session.post(f"{base_url}/api/v1/todos", json=body) as response:
            response.raise_for_status()


async def run_job(session: aiohttp.ClientSession, base_url: str) -> float:
    """Seconds from the POST until SUCCESS is visible to a polling client."""
    started = time.perf_counter()
    async with session.post(f"{base_url}/api/v1/todos/ical") as response:
        task_url = (await response.json())["task_url"]
    await wait_finished(session, task_url, POLL_INTERVAL_S)
    return time.perf_counter() - started


async def wait_finished(session: aiohttp.ClientSession, task_url: str, interval_s: float) -> None:
    for _ in range(int(120 / interval_s)):
        async with session.get(task_url) as response:
            status = (await response.json())["task_status"]
        if status in TERMINAL_STATUSES:
            if status != "SUCCESS":
                raise RuntimeError(f"job failed: {task_url}")
            return
        await asyncio.sleep(interval_s)
    raise TimeoutError(task_url)


async def latency(base_url: str, jobs: int = 40, todos: int = 100) -> str:
    async with aiohttp.ClientSession() as session:
        await create_todos(session, base_url, todos)
        await run_job(session, base_url)  # warm-up
        samples = sorted([await run_job(session, base_url) for _ in range(jobs)])
    p50 = statistics.median(samples) * 1000
    p95 = samples[int(len(samples) * 0.95) - 1] * 1000
    return f"latency ({todos} todos, {jobs} jobs in a row): p50 {p50:.0f} ms, p95 {p95:.0f} ms"


async def throughput(base_url: str, jobs: int = 500) -> str:
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as session:
        await create_todos(session, base_url, 3)
        started = time.perf_counter()
        accepted = await asyncio.gather(*(_submit(session, base_url) for _ in range(jobs)))
        submitted_s = time.perf_counter() - started
        for task_url in accepted:
            await wait_finished(session, task_url, 0.05)
        elapsed_s = time.perf_counter() - started
    return (
        f"throughput: {jobs} jobs submitted in {submitted_s:.1f} s, all SUCCESS after "
        f"{elapsed_s:.1f} s = {jobs / elapsed_s:.0f} jobs/s"
    )


async def _submit(session: aiohttp.ClientSession, base_url: str) -> str:
    async with session.post(f"{base_url}/api/v1/todos/ical") as response:
        return str((await response.json())["task_url"])


async def concurrent_throughput(
    base_url: str, jobs: int = THROUGHPUT_JOBS, todos: int = 100, concurrency: int = 16
) -> str:
    """`jobs` requests of `todos` todos, `concurrency` clients each submitting and waiting."""
    async with aiohttp.ClientSession() as session:
        await create_todos(session, base_url, todos)
        queue: asyncio.Queue[None] = asyncio.Queue()
        for _ in range(jobs):
            queue.put_nowait(None)
        started = time.perf_counter()
        await asyncio.gather(*(_client(session, base_url, queue) for _ in range(concurrency)))
        elapsed_s = time.perf_counter() - started
    return (
        f"throughput ({jobs} jobs of {todos} todos, {concurrency} clients): all SUCCESS after "
        f"{elapsed_s:.1f} s = {jobs / elapsed_s:.1f} jobs/s"
    )


async def _client(
    session: aiohttp.ClientSession, base_url: str, queue: asyncio.Queue[None]
) -> None:
    while not queue.empty():
        queue.get_nowait()
        task_url = await _submit(session, base_url)
        await wait_finished(session, task_url, POLL_INTERVAL_S * 10)


async def http_rates(base_url: str, requests: int = 3000, concurrency: int = 32) -> str:
    """Creates, then gets of the created todos, `concurrency` clients at a time: requests/s."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        creates, gets, _ = await rates(session, base_url, requests, concurrency)
    return (
        f"create todo: {creates:.0f} req/s, get todo: {gets:.0f} "
        f"req/s ({requests} each, {concurrency} concurrent)"
    )


async def rates(
    session: aiohttp.ClientSession, base_url: str, requests: int, concurrency: int
) -> tuple[float, float, list[int]]:
    """`requests` creates, then a get of each created todo, `concurrency` at a time: the
    creates a second, the gets a second, and the ids created."""
    created: list[int] = []

    async def create(number: int) -> None:
        body = {"title": f"Rate {number}", "deadline_at": "2026-12-01T09:00:00"}
        async with session.post(f"{base_url}/api/v1/todos", json=body) as response:
            created.append(int((await response.json())["id"]))

    async def get(todo_id: int) -> None:
        async with session.get(f"{base_url}/api/v1/todos/{todo_id}") as response:
            response.raise_for_status()
            await response.read()

    create_s = await timed(concurrency, [create(n) for n in range(requests)])
    get_s = await timed(concurrency, [get(todo_id) for todo_id in created])
    return requests / create_s, len(created) / get_s, created


async def timed(concurrency: int, calls: list[Coroutine[Any, Any, None]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def limited(call: Coroutine[Any, Any, None]) -> None:
        async with gate:
            await call

    started = time.perf_counter()
    await asyncio.gather(*(limited(call) for call in calls))
    return time.perf_counter() - started


async def big_calendar(base_url: str, todos: int = 20_000, concurrency: int = 32) -> str:
    """Seconds from the POST of a calendar of `todos` todos until SUCCESS is polled."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def create(number: int) -> None:
            body = {"title": f"Big {number}", "deadline_at": "2026-12-01T09:00:00"}
            async with session.post(f"{base_url}/api/v1/todos", json=body) as response:
                response.raise_for_status()

        await timed(concurrency, [create(n) for n in range(todos)])
        seconds = await run_job(session, base_url)
    return f"calendar of {todos:,} todos: POST to SUCCESS in {seconds:.2f} s"
