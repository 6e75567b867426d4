"""Random kills, pauses and database cuts of every service while clients request calendars and
cancel some of them at random moments: every accepted job ends as the API said it would, and each
service's projection is what a rebuild of its own log makes.

The schedule is random; what is asserted holds for every schedule. CHAOS_SEED replays one (the
seed is in the failure message), CHAOS_S sets how long the faults go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp
import pytest

from shared.contracts.responses import TERMINAL_STATUSES
from shared.contracts.topology import QUEUES, Names
from shared.messaging.provisioning import bootstrap
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.cluster import JOB_TIMEOUT_S, Cluster, render_stream, types
from tests.support.environment import POSTGRES_URL
from tests.support.faults import FaultProxy, proxied_url
from tests.support.processes import ROOT, Service

CHAOS_S = float(os.environ.get("CHAOS_S", "20"))
CLIENTS = 4
# at most this many jobs (CHAOS_JOBS), so the settling after the faults stays bounded
MAX_JOBS = int(os.environ.get("CHAOS_JOBS", "300"))
SETTLE_S = JOB_TIMEOUT_S * 2
# a message whose receivers are killed again and again is received this many times before it is
# dead-lettered: the faults here are many and dense, and what is tested is how jobs end, not
# the redrive policy (tests/integration/shared/consumer/ tests that)
RECEIVES = 20
# what each outcome in a render stream makes of the job's status
ENDS = {"CalendarReady": "SUCCESS", "CalendarFailed": "FAILURE", "CalendarRevoked": "REVOKED"}


@dataclass
class Ledger:
    """What clients were told: each accepted job's task URL, and the answers to its cancels."""

    jobs: dict[str, str] = field(default_factory=dict)
    cancels: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


@dataclass
class Victim:
    """One service process and its database's proxy; killed ones are started again in place."""

    name: str
    service: Service
    database: FaultProxy


@pytest.fixture
async def stack_settings(stack_settings: Settings) -> Settings:
    """The stack's settings, with room for RECEIVES receives of a message."""
    settings = stack_settings.model_copy(update={"sqs_max_receive_count": RECEIVES})
    # the queues exist: this sets their redrive policy again
    await bootstrap(settings)
    return settings


@pytest.mark.parametrize("broker", ["aws"])
async def test_every_accepted_job_ends_as_the_api_said_under_faults_of_every_service(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(2**32)))
    chance = random.Random(seed)
    victims = await start_victims(cluster)
    api_url = victims[1].service.url
    ledger, stop = Ledger(), asyncio.Event()
    await ApiClient(http, api_url).create_todo(title="Under fire", deadline_at="2030-01-01T09:00")

    clients = [
        asyncio.create_task(
            request_and_cancel(http, api_url, ledger, random.Random(chance.random()), stop)
        )
        for _ in range(CLIENTS)
    ]
    faults = asyncio.create_task(inject_faults(cluster, victims, chance, stop))
    await asyncio.sleep(CHAOS_S)
    stop.set()
    await asyncio.gather(faults, *clients)
    injected = faults.result()

    context = f"seed {seed}: {len(ledger.jobs)} jobs, {len(ledger.cancels)} cancelled, {injected}"
    assert ledger.jobs, context
    finals = await settle(http, ledger, cluster, context)
    for task_id, final in finals.items():
        await check_job(cluster, ledger, task_id, final, context)
    for service in ("todo_api", "job_tracker"):
        assert "no difference" in rebuild_dry_run(cluster, service), f"{service}: {context}"
    # what a run did, for anyone who runs it longer (pytest -s shows it)
    print(f"chaos {context}; ended {Counter(finals.values())}")


async def start_victims(cluster: Cluster) -> list[Victim]:
    """The tracker, the API and two workers, each with its database behind its own proxy."""
    proxies = [cluster.proxy(POSTGRES_URL) for _ in range(4)]

    def through(proxy: FaultProxy) -> str:
        return proxied_url(POSTGRES_URL, proxy)

    tracker = cluster.service("job_tracker", DATABASE_URL=through(proxies[0]))
    api = cluster.service("todo_api", DATABASE_URL=through(proxies[1]), JOB_TRACKER_URL=tracker.url)
    workers = [
        cluster.service("calendar_worker", DATABASE_URL=through(proxy)) for proxy in proxies[2:]
    ]
    await cluster.start(tracker, api, *workers)
    names = ["job_tracker", "todo_api", "calendar_worker-1", "calendar_worker-2"]
    services = [tracker, api, *workers]
    return [Victim(*pair) for pair in zip(names, services, proxies, strict=True)]


async def request_and_cancel(
    http: aiohttp.ClientSession,
    api_url: str,
    ledger: Ledger,
    chance: random.Random,
    stop: asyncio.Event,
) -> None:
    """Request calendars until told to stop; cancel about half of them 0-50 ms later."""
    while not stop.is_set() and len(ledger.jobs) < MAX_JOBS:
        accepted = await answer(http, "POST", f"{api_url}/api/v1/todos/ical")
        if accepted is None or accepted[0] != 202:
            await asyncio.sleep(0.2)
            continue
        task_id = accepted[1]["task_id"]
        ledger.jobs[task_id] = accepted[1]["task_url"]
        if chance.random() < 0.5:
            await asyncio.sleep(chance.uniform(0, 0.05))
            cancelled = await answer(http, "DELETE", f"{api_url}/api/v1/todos/ical/{task_id}")
            if cancelled is not None:
                said = cancelled[1].get("task_status") or cancelled[1].get("error", "")
                ledger.cancels.setdefault(task_id, []).append((cancelled[0], str(said)))
        await asyncio.sleep(chance.uniform(0.02, 0.2))


async def answer(
    http: aiohttp.ClientSession, method: str, url: str
) -> tuple[int, dict[str, Any]] | None:
    """The status and JSON body of a request; None when no answer came (a killed process)."""
    try:
        async with http.request(method, url, timeout=aiohttp.ClientTimeout(total=10)) as got:
            return got.status, dict(await got.json())
    except (aiohttp.ClientError, TimeoutError):
        return None


async def inject_faults(
    cluster: Cluster, victims: list[Victim], chance: random.Random, stop: asyncio.Event
) -> Counter[str]:
    """One fault at a time on a random service: SIGKILL and start again, SIGSTOP for a while,
    or its database cut for a while; how many of each."""
    injected: Counter[str] = Counter()
    while not stop.is_set():
        await asyncio.sleep(chance.uniform(0.3, 1.5))
        victim = chance.choice(victims)
        fault = chance.choice(["kill", "pause", "cut"])
        injected[fault] += 1
        if fault == "kill":
            await restart(cluster, victim)
        elif fault == "pause":
            with paused(victim.service):
                await asyncio.sleep(chance.uniform(0.5, 2.5))
        else:
            victim.database.block()
            await asyncio.sleep(chance.uniform(0.5, 3.0))
            victim.database.unblock()
    return injected


async def restart(cluster: Cluster, victim: Victim) -> None:
    """SIGKILL the process and start a new one on the same port, with the same settings."""
    victim.service.kill()
    env = {
        name: value for name, value in victim.service.env.items() if cluster.env.get(name) != value
    }
    module = victim.service.module.removeprefix("services.")
    replacement = cluster.service(module, **env)
    replacement.port = victim.service.port
    victim.service = replacement
    await cluster.start(replacement)


@contextlib.contextmanager
def paused(service: Service) -> Iterator[None]:
    """SIGSTOP for the block's length, then SIGCONT."""
    assert service.process is not None
    service.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        service.process.send_signal(signal.SIGCONT)


async def settle(
    http: aiohttp.ClientSession, ledger: Ledger, cluster: Cluster, context: str
) -> dict[str, str]:
    """Each accepted job's final status, waited for (faults over, every service running)."""
    finals: dict[str, str] = {}
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while len(finals) < len(ledger.jobs):
        if asyncio.get_running_loop().time() > deadline:
            waiting = sorted(set(ledger.jobs) - set(finals))
            pytest.fail(
                f"{len(waiting)} jobs not finished, e.g. {waiting[:3]}; dead letters "
                f"{await dead_letters(cluster.settings)}; {context}"
            )
        for task_id, task_url in ledger.jobs.items():
            if task_id not in finals:
                found = await answer(http, "GET", task_url)
                if found is not None and found[1].get("task_status") in TERMINAL_STATUSES:
                    finals[task_id] = found[1]["task_status"]
        await asyncio.sleep(0.2)
    return finals


async def check_job(
    cluster: Cluster, ledger: Ledger, task_id: str, final: str, context: str
) -> None:
    """The job ended as its render stream decided, as every answer about it said, for good."""
    outcomes = [kind for kind in types(await render_stream(cluster, UUID(task_id))) if kind in ENDS]
    cancels = ledger.cancels.get(task_id, [])
    said = f"{task_id}: {final}, render stream {outcomes}, cancels {cancels}; {context}"
    assert len(outcomes) == 1, said
    assert final == ENDS[outcomes[0]], said
    if not cancels:
        assert final == "SUCCESS", said
    for status, answer_said in cancels:
        if (status, answer_said) == (202, "REVOKED"):
            assert final == "REVOKED", said
        if status == 409:
            assert final in {"SUCCESS", "FAILURE"}, said
    assert final in {"SUCCESS", "REVOKED"}, said


def rebuild_dry_run(cluster: Cluster, service: str) -> str:
    """What `make replay ARGS="rebuild --service <service> --dry-run"` prints."""
    command = [sys.executable, "-m", "scripts.replay", "rebuild", "--service", service, "--dry-run"]
    env = {**os.environ, **cluster.env}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def dead_letters(settings: Settings) -> dict[str, int]:
    """How many messages each DLQ holds."""
    names = Names(settings.resource_prefix)
    found: dict[str, int] = {}
    async with transport_client(settings, "sqs") as sqs:
        for spec in QUEUES:
            url = (await sqs.get_queue_url(QueueName=names.dlq(spec)))["QueueUrl"]
            depth = await sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            found[spec.dlq_name] = int(depth["Attributes"]["ApproximateNumberOfMessages"])
    return found
