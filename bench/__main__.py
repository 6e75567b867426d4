"""`make bench`: performance figures of the calendar pipeline. Prints; asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bench import auth, fairness, jobs, render, soak, stacks, versus

# set by scripts/localstack.sh, which `make bench` runs the bench under
LOCALSTACK_ENV = "TEST_AWS_ENDPOINT_URL"
TRANSPORT_LABELS = {"embedded": "embedded transport", "aws": "in-process moto"}


async def embedded(transport: str) -> None:
    label = f"make run (SQLite + {TRANSPORT_LABELS[transport]}):"
    async with stacks.embedded_stack(transport) as stack:
        print(label, await jobs.latency(stack.url), flush=True)
    async with stacks.embedded_stack(transport) as stack:
        print(label, await _throughput_and_cpu(stack), flush=True)
    async with stacks.embedded_stack(transport) as stack:
        print(label, await jobs.http_rates(stack.url), flush=True)
    async with stacks.embedded_stack(transport) as stack:
        print(label, await jobs.big_calendar(stack.url), flush=True)


async def postgres() -> None:
    async with stacks.postgres_stack(workers=1) as stack:
        print("postgres + moto, 1 worker:", await jobs.latency(stack.url), flush=True)
    for workers in (1, 2):
        async with stacks.postgres_stack(workers=workers) as stack:
            result = await jobs.throughput(stack.url)
            print(f"postgres + moto, {workers} worker(s):", result, flush=True)


async def localstack(endpoint: str) -> None:
    async with stacks.postgres_stack(workers=1, aws_endpoint=endpoint) as stack:
        print("postgres + localstack, 1 worker:", await jobs.latency(stack.url), flush=True)
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as counted:
            async with stacks.postgres_stack(workers, endpoint, Path(counted)) as stack:
                result = await _throughput_and_cpu(stack)
            print(f"postgres + localstack, {workers} worker(s):", result, flush=True)
            print(_per_job(stacks.aws_requests(Path(counted)), jobs.THROUGHPUT_JOBS), flush=True)
    # the pattern for the CPU and request targets: side-by-side's burst, polled every 10 ms;
    # then watched, which is the pipeline's own cost without the polls
    for following in (versus.POLL_10, versus.WATCH):
        with tempfile.TemporaryDirectory() as counted:
            async with stacks.postgres_stack(1, endpoint, Path(counted)) as stack:
                result = await _burst_and_cpu(stack, following)
            print("postgres + localstack, 1 worker:", result, flush=True)
            print(_per_job(stacks.aws_requests(Path(counted)), versus.JOBS), flush=True)
    print(await _latency_beside_practical(endpoint), flush=True)


async def _latency_beside_practical(endpoint: str) -> str:
    """The p50 target's ratio: one job at a time polled every 5 ms, on PostgreSQL + LocalStack
    and on the practical's design, in alternating rounds."""
    if not versus.has_practical():
        return f"localstack beside the practical: skipped, not at {versus.PRACTICAL_DIR}"
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(versus.ROUNDS):
        async with versus.practical() as practical_url:
            theirs.append(await versus.latency_p50(practical_url))
        async with stacks.postgres_stack(1, endpoint) as stack:
            ours.append(await versus.latency_p50(stack.url))
    p50, base = statistics.median(ours), statistics.median(theirs)
    return (
        f"p50 one job at a time, polled every 5 ms, medians of {versus.ROUNDS} alternating rounds: "
        f"postgres + localstack {p50:.1f} ms, practical {base:.1f} ms ({p50 / base:.2f}x)"
    )


async def _throughput_and_cpu(stack: stacks.Stack) -> str:
    """The concurrent throughput run, and the CPU each process spent on it per job."""
    before = stack.cpu_seconds()
    result = await jobs.concurrent_throughput(stack.url)
    after = stack.cpu_seconds()
    per_job = ", ".join(
        f"{name} {(after[name] - before[name]) / jobs.THROUGHPUT_JOBS * 1000:.1f} ms"
        for name in after
    )
    # the setup (creating the todos) is inside the window; it is small beside 200 jobs
    return f"{result}\n  CPU per job: {per_job}"


async def _burst_and_cpu(stack: stacks.Stack, following: versus.Following) -> str:
    """Side-by-side's burst of jobs followed as `following` says, and the CPU each process spent
    on it per job."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await jobs.create_todos(session, stack.url, versus.TODOS)
        before = stack.cpu_seconds()
        rate, p50_ms = await versus.burst(session, stack.url, following)
        after = stack.cpu_seconds()
    spent = {name: (after[name] - before[name]) / versus.JOBS * 1000 for name in after}
    per_job = ", ".join(f"{name} {ms:.1f} ms" for name, ms in spent.items())
    return (
        f"{versus.JOBS} jobs of {versus.TODOS} todos at once, {following.name}: {rate:.1f} jobs/s, "
        f"p50 {p50_ms:.0f} ms\n  CPU per job: {sum(spent.values()):.1f} ms ({per_job})"
    )


def _per_job(requests: dict[str, dict[str, int]], job_count: int) -> str:
    """AWS requests per job by operation, all services together (setup and idle polls included)."""
    total: Counter[str] = Counter()
    for counts in requests.values():
        total.update(counts)
    by_operation = ", ".join(f"{op} {n / job_count:.2f}" for op, n in total.most_common())
    return f"  AWS requests per job: {sum(total.values()) / job_count:.2f} ({by_operation})"


def _render() -> None:
    for count in (10_000, 100_000):
        seconds, peak_mb = render.bench_render(count)
        print(f"render {count:>7,} todos: {seconds:.2f} s, peak {peak_mb:.0f} MB", flush=True)


def _auth() -> None:
    print("make run, what authentication costs a request:", flush=True)
    for line in asyncio.run(auth.auth_costs()):
        print(line, flush=True)


def _fairness() -> None:
    print("make run, one tenant's flood beside another's jobs:", flush=True)
    for clients in fairness.FLOOD_CLIENTS:
        print(asyncio.run(fairness.fairness(clients)), flush=True)


def _localstack() -> None:
    if endpoint := os.environ.get(LOCALSTACK_ENV):
        asyncio.run(localstack(endpoint))
    else:
        print(f"localstack: skipped, {LOCALSTACK_ENV} is not set (make bench sets it)")


def _soak() -> None:
    print(asyncio.run(soak.soak(soak.SoakOptions.from_env())), flush=True)


def _side_by_side() -> None:
    # the render benchmark first: the host's speed that day, as a yardstick beside the ratios
    _render()
    print(asyncio.run(versus.side_by_side(MEASURED_LAYOUTS)), flush=True)


# make run's layouts measured beside the practical (EMBEDDED_PROCESSES)
MEASURED_LAYOUTS = (1, 3)

RUNS: dict[str, Callable[[], None]] = {
    "side-by-side": _side_by_side,
    "render": _render,
    "embedded": lambda: asyncio.run(embedded("embedded")),
    "embedded-moto": lambda: asyncio.run(embedded("aws")),
    "auth": _auth,
    "fairness": _fairness,
    "postgres": lambda: asyncio.run(postgres()),
    "localstack": _localstack,
    # SOAK_MINUTES long (20 by default): run only when asked for by name
    "soak": _soak,
}
SECTIONS = tuple(RUNS)
DEFAULT_SECTIONS = tuple(section for section in SECTIONS if section != "soak")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "sections", nargs="*", metavar="SECTION", help=f"{SECTIONS}; default all but soak"
    )
    chosen = parser.parse_args().sections or DEFAULT_SECTIONS
    if unknown := set(chosen) - set(SECTIONS):
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    for section in SECTIONS:
        if section in chosen:
            RUNS[section]()


if __name__ == "__main__":
    main()
