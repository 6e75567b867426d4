"""Stacks to measure: the embedded mode, and the services as processes on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.processes import Service, process_tree

BENCH_ENV = {"LOG_LEVEL": "WARNING"}
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stack:
    url: str
    services: list[Service]
    # where an embedded stack keeps its databases (None: the services are on PostgreSQL)
    var_dir: Path | None = None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each service's process has used so far (Linux /proc)."""
        return {Path(s.log_path).stem: _cpu_seconds(s) for s in self.services}


def _cpu_seconds(service: Service) -> float:
    """The process's CPU time and that of its children still running (`make run` with
    EMBEDDED_PROCESSES above 1 hosts the services in children of its own)."""
    assert service.process is not None
    return sum(_own_cpu_seconds(pid) for pid in process_tree(service.process.pid))


def _own_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # utime and stime are the 14th and 15th fields; the split starts at the 3rd
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


@contextlib.asynccontextmanager
async def embedded_stack(
    transport: str = "embedded", settings: Mapping[str, str] | None = None
) -> AsyncIterator[Stack]:
    """`make run` in a process of its own: on the embedded transport, or "aws" (moto inside),
    with `settings` added to its environment."""
    with tempfile.TemporaryDirectory() as var_dir:
        env = {**BENCH_ENV, "VAR_DIR": var_dir, "EMBEDDED_AWS_PORT": "0", "TRANSPORT": transport}
        env |= settings or {}
        service = Service("embedded", env, Path(var_dir) / "embedded.log")
        async with _running([service]):
            yield Stack(service.url, [service], Path(var_dir))


@contextlib.asynccontextmanager
async def postgres_stack(
    workers: int, aws_endpoint: str | None = None, requests_dir: Path | None = None
) -> AsyncIterator[Stack]:
    """todo_api (as services.edge), job_tracker and `workers` calendar workers on PostgreSQL.

    The AWS side is `aws_endpoint` (LocalStack, say) or, when None, a moto server started here.
    With `requests_dir`, each service writes its AWS request counts there when it stops.
    """
    async with _aws_endpoint(aws_endpoint) as endpoint:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        prefix = f"b{uuid.uuid4().hex[:8]}-"
        await bootstrap(Settings(aws_endpoint_url=endpoint, resource_prefix=prefix))
        env = {
            **BENCH_ENV,
            "AWS_ENDPOINT_URL": endpoint,
            "RESOURCE_PREFIX": prefix,
            "DATABASE_URL": POSTGRES_URL,
            "DATABASE_SCHEMA": schema,
        }
        await _postgres(f'CREATE SCHEMA "{schema}"')
        with tempfile.TemporaryDirectory() as logs:

            def service(module: str, name: str, **extra: str) -> Service:
                own_env = {**env, **extra}
                if requests_dir is not None:
                    own_env["AWS_REQUESTS_FILE"] = str(requests_dir / f"{name}.json")
                return Service(module, own_env, Path(logs) / f"{name}.log")

            tracker = service("services.job_tracker", "job_tracker")
            # as docker-compose.yml runs it: the job routes read from the tracker's tables
            api = service(
                "services.edge",
                "todo_api",
                JOB_TRACKER_URL=tracker.url,
                JOB_TRACKER_DATABASE_SCHEMA=schema,
            )
            pool = [
                service("services.calendar_worker", f"calendar_worker-{n}") for n in range(workers)
            ]
            try:
                async with _running([tracker, api, *pool]):
                    yield Stack(api.url, [tracker, api, *pool])
            finally:
                await _postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.asynccontextmanager
async def _aws_endpoint(given: str | None) -> AsyncIterator[str]:
    if given is not None:
        yield given
        return
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


@contextlib.asynccontextmanager
async def _running(services: list[Service]) -> AsyncIterator[None]:
    for service in services:
        service.start()
    try:
        for service in services:
            await asyncio.to_thread(service.wait_healthy)
        yield
    finally:
        for service in services:
            service.request_stop()
        for service in services:
            service.terminate()


async def _postgres(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def aws_requests(requests_dir: Path) -> dict[str, dict[str, int]]:
    """The AWS requests each service of a stopped stack sent, by operation."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(requests_dir.glob("*.json"))}
