"""The three services as separate processes on PostgreSQL and a broker: AWS or embedded.

`broker` runs each test on both transports: "aws" (moto server, or LocalStack under
TEST_AWS_ENDPOINT_URL) and "embedded" (TRANSPORT=embedded: every process opens one SQLite
transport file and one blob folder under the test's VAR_DIR). `embedded_stack` is `make run`
instead: all three in one process, one per test module. `browser` is Chromium, one per test
module, and `page` the web page at / on the embedded stack (test_browser_ops.py opens /ops
instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import asyncpg
import pytest

from embedded.transport.clients import provision_embedded
from shared.auth.api_keys import ApiKey
from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.auth import issue_key
from tests.support.browser import browser_page
from tests.support.chromium import chromium
from tests.support.cluster import Cluster
from tests.support.environment import POSTGRES_URL, require_postgres
from tests.support.processes import EmbeddedStack, Service, Stack, service_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# the LocalStack run (make test-localstack) is for the AWS endpoint only
BROKERS = ["aws"] if os.environ.get("TEST_AWS_ENDPOINT_URL") else ["aws", "embedded"]


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


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest) -> str:
    """The transport the services talk over, "aws" or "embedded": test ids `[aws]`, `[embedded]`."""
    return str(request.param)


@pytest.fixture
async def stack_settings(
    broker: str, e2e_schema: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Settings:
    """The settings every process of the test shares; the topology exists before any starts."""
    base = process_settings(e2e_schema, tmp_path)
    if broker == "embedded":
        settings = base.model_copy(update={"transport": "embedded"})
        await provision_embedded(settings)
        return settings
    moto_url = request.getfixturevalue("moto_url")
    settings = base.model_copy(update={"transport": "aws", "aws_endpoint_url": moto_url})
    await bootstrap(settings)
    return settings


def process_settings(schema: str, folder: Path) -> Settings:
    """What the processes of a stack share, but the broker: PostgreSQL's `schema`, names of
    their own, and timeouts short enough for a test."""
    return Settings(
        resource_prefix=f"e{uuid.uuid4().hex[:8]}-",
        database_url=POSTGRES_URL,
        database_schema=schema,
        # the embedded transport's file and blobs; unused on AWS
        var_dir=folder / "var",
        # short timeouts so retries and redeliveries happen within a test's patience
        sqs_wait_time_s=1,
        sqs_visibility_timeout_s=5,
        sqs_max_receive_count=3,
        log_level="INFO",
    )


@pytest.fixture
def stack_env(stack_settings: Settings) -> dict[str, str]:
    """The environment of a service process: the stack's settings, as Settings reads them."""
    return service_env(stack_settings)


@pytest.fixture
def stack(stack_env: dict[str, str], stack_settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    with running_processes(stack_env, stack_settings, tmp_path) as running:
        yield running


@contextlib.contextmanager
def running_processes(
    env: dict[str, str], settings: Settings, folder: Path, api_module: str = "services.todo_api"
) -> Iterator[Stack]:
    """The three services as processes with the environment `env` (`settings` as service_env
    gives it, and maybe more), their logs in `folder`, the public one run as `api_module`; each
    must stop cleanly."""
    tracker = Service("services.job_tracker", env, folder / "job_tracker.log")
    worker = Service("services.calendar_worker", env, folder / "calendar_worker.log")
    # todo_api wired to the others as docker-compose.yml wires it: the tracker's routes, and
    # what the operations page shows of both
    api_env = {
        **env,
        "JOB_TRACKER_URL": tracker.url,
        "CALENDAR_WORKER_URL": worker.url,
        "JOB_TRACKER_METRICS_URL": tracker.metrics_url,
        "CALENDAR_WORKER_METRICS_URL": worker.metrics_url,
    }
    api = Service(api_module, api_env, folder / "todo_api.log")
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
async def api(stack: Stack) -> AsyncIterator[ApiClient]:
    """The HTTP API of the three-process stack."""
    async with aiohttp.ClientSession() as session:
        yield ApiClient(session, stack.base_url)


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    """`python -m embedded` on free ports, its files in a temp dir; SIGTERM stops it."""
    with running_embedded(tmp_path_factory) as stack:
        yield stack


@pytest.fixture(scope="module")
def embedded_stack_requiring_credentials(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedStack, ApiKey]]:
    """`python -m embedded` with AUTH_MODE=required, and a member's key issued into it."""
    # the fuzz run's one key sends writes faster than its limit allows: it meets the 429s, but
    # answered at once (a pause per refusal would add minutes for nothing it checks)
    with running_embedded(
        tmp_path_factory, AUTH_MODE="required", RATE_LIMIT_REFUSAL_PAUSE_MS="0"
    ) as stack:
        todo_api = Settings(var_dir=stack.var_dir).with_embedded_database("todo_api")
        yield stack, asyncio.run(issue_key(todo_api))


@contextlib.contextmanager
def running_embedded(
    tmp_path_factory: pytest.TempPathFactory, **settings: str
) -> Iterator[EmbeddedStack]:
    var_dir = tmp_path_factory.mktemp("embedded")
    env = {
        "TRANSPORT": "embedded",
        "VAR_DIR": str(var_dir),
        "EMBEDDED_AWS_PORT": "0",
        # each service's metrics listener on a port the OS picks
        "METRICS_PORT": "0",
        "SQS_WAIT_TIME_S": "1",
        "LOG_LEVEL": "INFO",
        **settings,
    }
    service = Service("embedded", env, var_dir / "embedded.log")
    service.start()
    try:
        service.wait_healthy()
        yield EmbeddedStack(service.url, var_dir)
    finally:
        exit_code = service.terminate()
    assert exit_code == 0, f"unclean shutdown ({exit_code}):\n{service.log()}"


@pytest.fixture
async def cluster(
    stack_env: dict[str, str], stack_settings: Settings, e2e_schema: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    db = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""), timeout=5, command_timeout=10)
    running = Cluster(stack_env, tmp_path, stack_settings, e2e_schema, db)
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, embedded_stack: EmbeddedStack) -> Iterator[Page]:
    """A fresh browser context on an empty todo list; no request may leave loopback."""
    with browser_page(browser, embedded_stack.url) as opened:
        yield opened
