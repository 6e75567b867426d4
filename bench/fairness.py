"""Is one tenant's flood another tenant's outage? On `make run`'s stack with AUTH_MODE=required
and the default limits: tenant B's calendar job latency idle, then while tenant A asks for
calendars as fast as it can (`clients` connections at once, at most FLOOD_BOUND requests, loopback
only), most of them answered 429 by A's bucket. Target: B's p50 at most 2x idle.

A request A sends before its Retry-After waits up to RATE_LIMIT_REFUSAL_PAUSE_MS before it is
answered, so A's rate follows its connections: a second per refusal on each."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.jobs import create_todos, run_job
from bench.stacks import embedded_stack
from shared.settings import RATE_LIMIT_DEFAULTS, Settings
from tests.support.auth import bearer, issue_key

# how many connections tenant A floods on, one run each: the stack's one event loop serves each
# of them in turn, so B's share of it shrinks as they grow
FLOOD_CLIENTS = (1, 4, 16, 64)
FLOOD_BOUND = 200_000
# each phase's jobs come from a key of their own, so that B stays within its own burst (a
# minute's worth of calendars) and only A is refused
JOBS_PER_PHASE = RATE_LIMIT_DEFAULTS["calendars"] - 1
ROUNDS = 3
TARGET_RATIO = 2.0


async def fairness(clients: int) -> str:
    idle_s: list[float] = []
    flooded_s: list[float] = []
    answers: Counter[int] = Counter()
    flood_s = 0.0
    async with embedded_stack(settings={"AUTH_MODE": "required"}) as stack:
        assert stack.var_dir is not None
        keys = _Keys(stack.var_dir)
        await _with_todos(stack.url, await keys.new("tenant-b"))
        for _ in range(ROUNDS):
            idle_s += await _b_jobs(stack.url, await keys.new("tenant-b"))
            a_key, b_key = await keys.new("tenant-a"), await keys.new("tenant-b")
            async with _flooding(stack.url, a_key, answers, clients):
                started = time.perf_counter()
                flooded_s += await _b_jobs(stack.url, b_key)
                flood_s += time.perf_counter() - started
    idle, flooded = statistics.median(idle_s) * 1000, statistics.median(flooded_s) * 1000
    met = "met" if flooded <= TARGET_RATIO * idle else "NOT met"
    return (
        f"fairness (AUTH_MODE=required, default limits, A on {clients} connection(s)): "
        f"tenant B's calendar job p50 idle "
        f"{idle:.0f} ms, while tenant A floods {flooded:.0f} ms = {flooded / idle:.2f}x idle "
        f"(target at most {TARGET_RATIO:.0f}x: {met}; {len(idle_s)} jobs each)\n"
        f"  tenant A: {sum(answers.values())} requests, {sum(answers.values()) / flood_s:.0f} "
        f"req/s from its first 429, answered {dict(sorted(answers.items()))}"
    )


class _Keys:
    """API keys issued into the stack's todo_api database: one principal each."""

    def __init__(self, var_dir: Path) -> None:
        self._settings = Settings(var_dir=var_dir).with_embedded_database("todo_api", var_dir)

    async def new(self, tenant: str) -> dict[str, str]:
        return bearer(await issue_key(self._settings, tenant=tenant))


async def _with_todos(url: str, headers: dict[str, str]) -> None:
    """Tenant B's todos, so that its calendars render something."""
    async with aiohttp.ClientSession(headers=headers) as session:
        await create_todos(session, url, 20)


async def _b_jobs(url: str, headers: dict[str, str]) -> list[float]:
    """JOBS_PER_PHASE of tenant B's jobs in a row, after a warm-up: seconds each."""
    async with aiohttp.ClientSession(headers=headers) as session:
        await run_job(session, url)
        return [await run_job(session, url) for _ in range(JOBS_PER_PHASE)]


@contextlib.asynccontextmanager
async def _flooding(
    url: str, headers: dict[str, str], answers: Counter[int], clients: int
) -> AsyncIterator[None]:
    """Tenant A asks for calendars as fast as it can while the block runs, in a bounded loop;
    the block starts at A's first 429, when its bucket is empty and the limit does the work."""
    refused, stop = asyncio.Event(), asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        for _ in range(FLOOD_BOUND // clients):
            if stop.is_set():
                return
            async with session.post(f"{url}/api/v1/todos/ical") as response:
                await response.read()
            answers[response.status] += 1
            if response.status == 429:
                refused.set()

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        flooding = asyncio.gather(*(client(session) for _ in range(clients)))
        try:
            await refused.wait()
            yield
        finally:
            stop.set()
            await flooding
