"""The three services as separate processes against moto server and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.bootstrap import bootstrap
from shared.settings import Settings
from tests.conftest import POSTGRES_URL, require_postgres
from tests.e2e.cluster import Cluster
from tests.e2e.processes import Service

# short timeouts so retries and redeliveries happen within a test's patience
E2E_ENV = {
    "SQS_WAIT_TIME_S": "1",
    "SQS_VISIBILITY_TIMEOUT_S": "5",
    "SQS_MAX_RECEIVE_COUNT": "3",
    "LOG_LEVEL": "INFO",
}


@dataclass
class Stack:
    api: Service
    tracker: Service
    worker: Service
    settings: Settings

    @property
    def base_url(self) -> str:
        return self.api.url

    @property
    def services(self) -> list[Service]:
        return [self.api, self.tracker, self.worker]


@pytest.fixture
async def e2e_schema() -> AsyncIterator[str]:
    require_postgres()
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def stack_env(moto_url: str, e2e_schema: str) -> dict[str, str]:
    prefix = f"e{uuid.uuid4().hex[:8]}-"
    env = {
        **E2E_ENV,
        "AWS_ENDPOINT_URL": moto_url,
        "RESOURCE_PREFIX": prefix,
        "DATABASE_URL": POSTGRES_URL,
        "DATABASE_SCHEMA": e2e_schema,
    }
    settings = Settings(
        aws_endpoint_url=moto_url,
        resource_prefix=prefix,
        sqs_visibility_timeout_s=5,
        sqs_max_receive_count=3,
    )
    await bootstrap(settings)
    return env


@pytest.fixture
def stack(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    tracker = Service("services.job_tracker", stack_env, tmp_path / "job_tracker.log")
    worker = Service("services.calendar_worker", stack_env, tmp_path / "calendar_worker.log")
    api_env = {**stack_env, "JOB_TRACKER_URL": tracker.url}
    api = Service("services.todo_api", api_env, tmp_path / "todo_api.log")
    settings = Settings(
        aws_endpoint_url=stack_env["AWS_ENDPOINT_URL"],
        resource_prefix=stack_env["RESOURCE_PREFIX"],
    )
    running = Stack(api, tracker, worker, settings)
    for service in running.services:
        service.start()
    try:
        for service in running.services:
            service.wait_healthy()
        yield running
    finally:
        # stop all at once: each waits out its own graceful shutdown
        for service in running.services:
            service.request_stop()
        codes = {service.module: service.terminate() for service in running.services}
    unclean = {module: code for module, code in codes.items() if code != 0}
    logs = "\n".join(service.log() for service in running.services if service.module in unclean)
    assert not unclean, f"unclean shutdown {unclean}:\n{logs}"


@pytest.fixture
async def cluster(
    stack_env: dict[str, str], e2e_schema: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    settings = Settings(
        aws_endpoint_url=stack_env["AWS_ENDPOINT_URL"], resource_prefix=stack_env["RESOURCE_PREFIX"]
    )
    db = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""), timeout=5, command_timeout=10)
    running = Cluster(stack_env, tmp_path, settings, e2e_schema, db)
    try:
        yield running
    finally:
        codes = await running.close()
        await db.close()
    assert codes == dict.fromkeys(codes, 0), f"unclean shutdown {codes}\n{running.logs()}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session
