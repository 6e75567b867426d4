"""Starting services as ECS does: replicas at the same moment, and before the database is up.

Each service is a real process on moto server and PostgreSQL. Replicas of all three services
create their tables in one schema at once; a service whose database refuses connections waits
for it (or stops cleanly on SIGTERM) instead of exiting.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.app.resources import SHUTDOWN_GRACE_S
from tests.support.environment import POSTGRES_URL
from tests.support.faults import FaultProxy, proxied_url, target_of
from tests.support.processes import Service

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

MODULES = ("services.todo_api", "services.job_tracker", "services.calendar_worker")
REPLICAS = 2
# the proxy refuses for this long: several attempts, and longer than the first back-offs
OUTAGE_S = 4.0
# "at once": sooner than the grace a running service gives its work on SIGTERM (10 s), and
# than `terminate` waits before it kills (20 s); seconds more than a stop takes, for a stalled host
STOPPED_WITHIN_S = SHUTDOWN_GRACE_S
# trust authentication never asks for it; it is here to prove no log line shows it
PASSWORD = "not-for-logs"


@pytest.fixture(params=["schema-exists", "new-schema"])
async def replica_env(
    request: pytest.FixtureRequest, stack_env: dict[str, str]
) -> AsyncIterator[dict[str, str]]:
    """`stack_env`, whose schema exists, or a schema the replicas race to create."""
    if request.param == "schema-exists":
        yield stack_env
        return
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    yield {**stack_env, "DATABASE_SCHEMA": name}
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def launched() -> Iterator[list[Service]]:
    """Services a test started; whatever still runs at the end is stopped."""
    services: list[Service] = []
    yield services
    for service in services:
        if service.process is not None and service.process.poll() is None:
            service.terminate()


def replicas(env: dict[str, str], log_dir: Path) -> list[Service]:
    services = []
    for number in range(1, REPLICAS + 1):
        for module in MODULES:
            log_path = log_dir / f"{module.rsplit('.', 1)[1]}-{number}.log"
            services.append(Service(module, env, log_path))
    return services


async def stop_all(services: list[Service]) -> dict[str, int]:
    """SIGTERM to every service at once; exit codes by log name."""
    for service in services:
        service.request_stop()
    codes = await asyncio.gather(*(asyncio.to_thread(s.terminate) for s in services))
    return {s.log_path.name: code for s, code in zip(services, codes, strict=True)}


def logs(services: list[Service]) -> str:
    return "\n".join(f"--- {s.log_path.name}\n{s.log()}" for s in services)


class TestReplicasStartingTogether:
    async def test_two_replicas_of_each_service_start_healthy_and_stop_cleanly(
        self, replica_env: dict[str, str], launched: list[Service], tmp_path: Path
    ) -> None:
        services = replicas(replica_env, tmp_path)
        launched.extend(services)

        for service in services:
            service.start()
        await asyncio.gather(*(asyncio.to_thread(s.wait_healthy) for s in services))
        codes = await stop_all(services)

        assert codes == {s.log_path.name: 0 for s in services}, logs(services)
        assert "Traceback" not in logs(services)


@pytest.fixture
def database_proxy() -> Iterator[FaultProxy]:
    with FaultProxy(*target_of(POSTGRES_URL)) as proxy:
        yield proxy


def with_password(url: str) -> str:
    return url.replace("//postgres@", f"//postgres:{PASSWORD}@")


async def wait_for_log(service: Service, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in service.log():
        assert service.process is not None
        assert service.process.poll() is None, f"exited while waiting:\n{service.log()}"
        assert time.monotonic() < deadline, f"never logged {text!r}:\n{service.log()}"
        await asyncio.sleep(0.1)


class TestStartingBeforeTheDatabase:
    async def test_a_service_waits_for_its_database_and_then_becomes_healthy(
        self,
        stack_env: dict[str, str],
        database_proxy: FaultProxy,
        launched: list[Service],
        tmp_path: Path,
    ) -> None:
        url = with_password(proxied_url(POSTGRES_URL, database_proxy))
        tracker = Service(
            "services.job_tracker", {**stack_env, "DATABASE_URL": url}, tmp_path / "tracker.log"
        )
        launched.append(tracker)
        database_proxy.block()

        tracker.start()
        waiting = f"waiting for PostgreSQL at {database_proxy.address}/test"
        await wait_for_log(tracker, waiting, timeout_s=30)
        await asyncio.sleep(OUTAGE_S)
        assert tracker.log().count(waiting) >= 2, tracker.log()
        database_proxy.unblock()
        await asyncio.to_thread(tracker.wait_healthy)

        assert database_proxy.refused >= 2, database_proxy
        assert PASSWORD not in tracker.log()
        assert await asyncio.to_thread(tracker.terminate) == 0, tracker.log()

    async def test_a_service_stopped_while_it_waits_exits_cleanly_at_once(
        self,
        stack_env: dict[str, str],
        database_proxy: FaultProxy,
        launched: list[Service],
        tmp_path: Path,
    ) -> None:
        url = proxied_url(POSTGRES_URL, database_proxy)
        api = Service("services.todo_api", {**stack_env, "DATABASE_URL": url}, tmp_path / "api.log")
        launched.append(api)
        database_proxy.block()
        api.start()
        await wait_for_log(api, "waiting for PostgreSQL", timeout_s=30)

        started_at = time.monotonic()
        code = await asyncio.to_thread(api.terminate)

        assert code == 0, api.log()
        assert time.monotonic() - started_at < STOPPED_WITHIN_S, api.log()
        assert "Traceback" not in api.log()
