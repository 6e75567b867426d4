"""One stack per test module: todo_api, job_tracker and calendar_worker as processes with
AUTH_MODE=required, on PostgreSQL and moto, with two tenants and an operator on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.access_table.filling import World
from tests.support.environment import POSTGRES_URL, fresh_schema
from tests.support.processes import Service, Stack, service_env
from tests.support.tenant_stack import keys_taken, tenants_on

TRACKER_KEYS_TIMEOUT_S = 30.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack_settings(
    moto_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    """The settings every process shares, the topology made and the schema dropped after."""
    async with fresh_schema() as schema:
        settings = Settings(
            transport="aws",
            aws_endpoint_url=moto_url,
            resource_prefix=f"z{uuid.uuid4().hex[:8]}-",
            database_url=POSTGRES_URL,
            database_schema=schema,
            var_dir=tmp_path_factory.mktemp("authorization"),
            sqs_wait_time_s=1,
            sqs_visibility_timeout_s=5,
            auth_mode="required",
        )
        await bootstrap(settings)
        yield settings


@pytest.fixture(scope="module")
def stack(stack_settings: Settings) -> Iterator[Stack]:
    env = service_env(stack_settings)
    logs = Path(stack_settings.var_dir)
    tracker = Service("services.job_tracker", env, logs / "job_tracker.log")
    worker = Service("services.calendar_worker", env, logs / "calendar_worker.log")
    api_env = {**env, "JOB_TRACKER_URL": tracker.url}
    api = Service("services.todo_api", api_env, logs / "todo_api.log")
    running = Stack(api, tracker, worker, stack_settings)
    try:
        for service in running.services:
            service.start()
        for service in running.services:
            service.wait_healthy()
        yield running
    finally:
        # all at once: each waits out its own graceful shutdown
        for service in running.services:
            service.request_stop()
        codes = {service.module: service.terminate() for service in running.services}
    unclean = {module: code for module, code in codes.items() if code != 0}
    assert not unclean, f"unclean shutdown {unclean}:\n{logs_of(running)}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(stack: Stack) -> AsyncIterator[World]:
    urls = {"todo_api": stack.api.url, "job_tracker": stack.tracker.url}
    urls["calendar_worker"] = stack.worker.url
    try:
        async with tenants_on(stack.settings, stack.api.url) as tenants:
            history = f"{stack.tracker.url}/api/v1/todos/ical"
            known = await keys_taken(tenants, history, TRACKER_KEYS_TIMEOUT_S)
            yield World(urls, tenants, tracker_knows_keys=known)
    except TimeoutError:
        pytest.fail(f"the tenants' todos and job were not ready in time\n{logs_of(stack)}")


def logs_of(stack: Stack) -> str:
    return "\n".join(f"--- {s.module}\n{s.log()}" for s in stack.services)
