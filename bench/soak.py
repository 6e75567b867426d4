"""Storage soak: `make run`'s stack under a steady load for SOAK_MINUTES, retention windows
shortened so that they pass within the run, its files sampled every SOAK_SAMPLE_S.

Two windows, two phases: the short ones (inbox, Idempotency-Key uses, results, snapshots:
SOAK_WINDOW_S) pass first; then, until the job history's window (SOAK_JOB_WINDOW_S) passes,
every finished job is still kept, so the slope of size against jobs done is what a job costs.
Once that window, an expiry pass and SOAK_CATCH_UP_S have passed, jobs are deleted as fast as
they finish, and the slope of size against time is the growth that remains.

The load is a board of SOAK_TODOS todos edited a few times a second (creates, updates and
deletes, so the todo log grows as a real one would), calendar jobs at SOAK_JOBS_PER_S, well
below capacity, each polled to its end and its file downloaded, and one request in
KEYED_EVERY with an Idempotency-Key (every other keyed job is sent twice, as a client's retry).
Prints; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.jobs import create_todos
from bench.soak_figures import Phases, Sample
from bench.soak_report import report, sample_line
from bench.soak_sizes import blob_sizes, body_sizes, database_sizes
from bench.stacks import embedded_stack
from embedded.transport.clients import BLOBS_FOLDER
from shared.contracts.responses import TERMINAL_STATUSES

KEYED_EVERY = 4
STATUS_POLL_S = 0.1
JOB_TIMEOUT_S = 120.0
# jobs still running when the load stops get this long to finish before the last sample
DRAIN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 20.0
    jobs_per_s: float = 5.0
    todos: int = 100
    edits_per_s: float = 3.0
    sample_s: float = 30.0
    # the short retention windows (inbox, idempotency keys, results, snapshots)
    window_s: int = 120
    # a finished job's history (its events in every service's log, its tracker row)
    job_window_s: int = 600
    expiry_interval_s: float = 10.0
    # after the job window and an expiry pass, before storage counts as steady
    catch_up_s: float = 60.0

    @classmethod
    def from_env(cls) -> SoakOptions:
        defaults = cls()
        return cls(
            minutes=float(os.environ.get("SOAK_MINUTES", defaults.minutes)),
            jobs_per_s=float(os.environ.get("SOAK_JOBS_PER_S", defaults.jobs_per_s)),
            todos=int(os.environ.get("SOAK_TODOS", defaults.todos)),
            edits_per_s=float(os.environ.get("SOAK_EDITS_PER_S", defaults.edits_per_s)),
            sample_s=float(os.environ.get("SOAK_SAMPLE_S", defaults.sample_s)),
            window_s=int(os.environ.get("SOAK_WINDOW_S", defaults.window_s)),
            job_window_s=int(os.environ.get("SOAK_JOB_WINDOW_S", defaults.job_window_s)),
            expiry_interval_s=float(
                os.environ.get("SOAK_EXPIRY_INTERVAL_S", defaults.expiry_interval_s)
            ),
            catch_up_s=float(os.environ.get("SOAK_CATCH_UP_S", defaults.catch_up_s)),
        )

    def short_windows(self) -> dict[str, str]:
        window = str(self.window_s)
        return {
            "INBOX_EXPIRY_S": window,
            "IDEMPOTENCY_EXPIRY_S": window,
            "RESULT_EXPIRY_S": window,
            "SNAPSHOT_EXPIRY_S": window,
        }

    def settings(self) -> dict[str, str]:
        """The stack's environment: every retention window shortened. Settings ignores a
        variable it does not know, so a window not yet built is simply unused."""
        return {
            **self.short_windows(),
            "JOB_EXPIRY_S": str(self.job_window_s),
            "EXPIRY_INTERVAL_MS": str(round(self.expiry_interval_s * 1000)),
        }

    @property
    def phases(self) -> Phases:
        return Phases(
            per_job_from_s=self.window_s + self.expiry_interval_s,
            job_window_s=self.job_window_s,
            steady_from_s=self.job_window_s + self.expiry_interval_s + self.catch_up_s,
        )

    def describe(self) -> str:
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        phases = self.phases
        return (
            f"soak, started {started}: make run, {self.minutes:g} min, {self.todos} todos edited "
            f"{self.edits_per_s:g}/s, calendar jobs {self.jobs_per_s:g}/s (1 request in "
            f"{KEYED_EVERY} with an Idempotency-Key), sampled every {self.sample_s:g} s\n"
            f"  windows: short {self.window_s} s ({', '.join(self.short_windows())}), job "
            f"history {self.job_window_s} s (JOB_EXPIRY_S), an expiry pass every "
            f"{self.expiry_interval_s:g} s, {self.catch_up_s:g} s for the deletes to catch up\n"
            f"  fitted: bytes per job from {phases.per_job_from_s:g} s to before "
            f"{phases.job_window_s:g} s, growth from {phases.steady_from_s:g} s"
        )


@dataclass
class Tally:
    jobs_done: int = 0
    jobs_failed: int = 0
    result_bytes: int = 0
    edits: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def soak(options: SoakOptions) -> str:
    print(options.describe(), flush=True)
    async with embedded_stack(settings=options.settings()) as stack:
        assert stack.var_dir is not None
        async with aiohttp.ClientSession() as session:
            load = _Load(session, stack.url, options)
            await create_todos(session, stack.url, options.todos)
            samples = await load.run(stack.var_dir)
        bodies = await asyncio.to_thread(body_sizes, stack.var_dir)
    return report(samples, options.phases, load.tally, bodies)


class _Load:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, options: SoakOptions):
        self._session = session
        self._api = f"{base_url}/api/v1/todos"
        self._options = options
        self.tally = Tally()
        # seeded: two soaks edit the board the same way
        self._random = random.Random(6400)
        self._requests = 0

    async def run(self, var_dir: Path) -> list[Sample]:
        started = time.monotonic()
        ends_at = started + self._options.minutes * 60
        samples: list[Sample] = []

        async def sample() -> None:
            at_s = time.monotonic() - started
            # the bodies too while every job is kept: the breakdown of what a job costs
            bodies = at_s < self._options.job_window_s
            taken = await asyncio.to_thread(_sample, var_dir, at_s, self.tally.jobs_done, bodies)
            samples.append(taken)
            print(sample_line(taken), flush=True)

        async def sampling() -> None:
            while (next_at := started + len(samples) * self._options.sample_s) < ends_at:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                await sample()

        jobs: set[asyncio.Task[None]] = set()
        await asyncio.gather(sampling(), self._edits(ends_at), self._jobs(ends_at, jobs))
        if jobs:
            await asyncio.wait(jobs, timeout=DRAIN_TIMEOUT_S)
        await sample()
        return samples

    async def _jobs(self, ends_at: float, running: set[asyncio.Task[None]]) -> None:
        async for number in _ticks(self._options.jobs_per_s, ends_at):
            task = asyncio.create_task(self._job(number))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _job(self, number: int) -> None:
        key = self._key()
        try:
            task_url = await self._request_calendar(key)
            # every other keyed job is sent again, as a client's retry: the same job, no other
            retried = key is not None and number % 2 == 0
            if retried and key is not None and await self._request_calendar(key) != task_url:
                self.tally.error("a retried Idempotency-Key started another job")
            result_url = await self._finished(task_url)
            if result_url is None:
                self.tally.jobs_failed += 1
                return
            async with self._session.get(result_url) as response:
                response.raise_for_status()
                async for chunk in response.content.iter_any():
                    self.tally.result_bytes += len(chunk)
            self.tally.jobs_done += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.error(f"job: {type(exc).__name__}")

    async def _request_calendar(self, key: str | None) -> str:
        headers = {} if key is None else {"Idempotency-Key": key}
        async with self._session.post(f"{self._api}/ical", headers=headers) as response:
            response.raise_for_status()
            return str((await response.json())["task_url"])

    async def _finished(self, task_url: str) -> str | None:
        """The job's result URL once it succeeded, None if it ended otherwise."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            async with self._session.get(task_url) as response:
                response.raise_for_status()
                body = await response.json()
            if body["task_status"] in TERMINAL_STATUSES:
                return str(body["result_url"]) if body["task_status"] == "SUCCESS" else None
            await asyncio.sleep(STATUS_POLL_S)
        raise TimeoutError(task_url)

    async def _edits(self, ends_at: float) -> None:
        """Creates, updates and deletes in turn, the board staying near its size."""
        ids = await self._board_ids()
        async for number in _ticks(self._options.edits_per_s, ends_at):
            try:
                match number % 4:
                    case 0:
                        ids.append(await self._create(number))
                    case 1 | 3:
                        await self._update(self._random.choice(ids), number)
                    case _:
                        await self._delete(ids.pop(self._random.randrange(len(ids))))
                self.tally.edits += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.tally.error(f"edit: {type(exc).__name__}")

    async def _board_ids(self) -> list[int]:
        async with self._session.get(self._api) as response:
            response.raise_for_status()
            return [int(todo["id"]) for todo in await response.json()]

    async def _create(self, number: int) -> int:
        key = self._key()
        headers = {} if key is None else {"Idempotency-Key": key}
        body = {"title": f"Soak {number}", "deadline_at": "2026-12-01T09:00:00"}
        async with self._session.post(self._api, json=body, headers=headers) as response:
            response.raise_for_status()
            return int((await response.json())["id"])

    async def _update(self, todo_id: int, number: int) -> None:
        body = {"title": f"Soak {number}, edited", "completed": number % 8 == 1}
        async with self._session.put(f"{self._api}/{todo_id}", json=body) as response:
            response.raise_for_status()

    async def _delete(self, todo_id: int) -> None:
        async with self._session.delete(f"{self._api}/{todo_id}") as response:
            response.raise_for_status()

    def _key(self) -> str | None:
        """An Idempotency-Key for one request in KEYED_EVERY, each its own."""
        self._requests += 1
        return f"soak-{self._requests}" if self._requests % KEYED_EVERY == 0 else None


async def _ticks(per_s: float, ends_at: float) -> AsyncIterator[int]:
    """0, 1, 2... at `per_s` a second on a fixed schedule (a late tick does not delay the next)
    until `ends_at`; none at all at 0 a second."""
    number, started = 0, time.monotonic()
    while per_s > 0 and (due := started + number / per_s) < ends_at:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        yield number
        number += 1


def _sample(var_dir: Path, at_s: float, jobs_done: int, with_bodies: bool) -> Sample:
    blobs, files = blob_sizes(var_dir, BLOBS_FOLDER)
    bodies = body_sizes(var_dir) if with_bodies else None
    return Sample(at_s, jobs_done, database_sizes(var_dir), blobs, files, bodies)
