"""A stack of services as processes, one at a time, and what tests read of it.

Services run as real processes on PostgreSQL and the test's broker: the AWS endpoint under test
(moto server or LocalStack) or the embedded transport's file. A fault is injected by giving one
service its AWS endpoint or database through a `FaultProxy` and cutting that proxy; the servers
themselves, and every other service, are never disturbed. What the test itself sends or reads of
the broker goes through the configured transport's clients, so it reads alike on both.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from embedded.file_blobs import FileBlobStore
from services.calendar_worker.rendering import calendar_blob_key
from services.job_tracker.jobs import Job, Status, evolve
from shared.app.resources import SHUTDOWN_GRACE_S
from shared.aws.blobs import BlobStore, S3BlobStore
from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarReady, CalendarStarted
from shared.contracts.streams import render_stream_id
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.contracts.topology import Names
from shared.messaging.claim_check import check_in
from shared.messaging.publisher import Outgoing, SnsPublisher
from shared.messaging.transports import open_clients
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.environment import (
    OUTAGE_DATABASE_TIMEOUTS,
    STALLED_HOST_DATABASE_TIMEOUTS,
)
from tests.support.factories import calendar_envelope, calendar_requested, todo_snapshots
from tests.support.faults import FaultProxy, target_of
from tests.support.polling import eventually
from tests.support.processes import STOP_TIMEOUT_S, Service

# large enough that rendering takes seconds (a window to kill or stop the worker in), small
# enough that a retry still fits the test's patience
SLOW_JOB_TODOS = 60_000
MEDIUM_JOB_TODOS = 20_000
JOB_TIMEOUT_S = 90.0
# the grace a service gives in-flight work and its outbox flush, plus process exit slack
SHUTDOWN_BOUND_S = SHUTDOWN_GRACE_S + 5.0
# a refused connection is noticed at once: a service measured by it keeps the tests' database
# timeouts (`STALLED_HOST_DATABASE_TIMEOUTS`, 30 s), so an answer within 15 s waited for none of
# them. A silent one when the database timeout expires, after which SQLAlchemy spends up to 2 s
# closing the dead connection gracefully: a service measured by it is given the services'
# default timeouts (`OUTAGE_DATABASE_TIMEOUTS`), and an answer within 15 s waited for those, not
# the tests' 30 s. Both leave room for a stalled host
SQLALCHEMY_CLOSE_S = 2.0
STALLED_HOST_S = 8.0
OUTAGE_ANSWER_S = {
    "block": 15.0,
    "stall": int(OUTAGE_DATABASE_TIMEOUTS["DATABASE_TIMEOUT_MS"]) / 1000
    + SQLALCHEMY_CLOSE_S
    + STALLED_HOST_S,
}
OUTAGE_TIMEOUTS = {"block": STALLED_HOST_DATABASE_TIMEOUTS, "stall": OUTAGE_DATABASE_TIMEOUTS}


# ---------------------------------------------------------------------------------------------
# the stack, one service at a time


@dataclass
class Cluster:
    """The services of one test, each started with its own environment, stopped or replaced."""

    env: dict[str, str]
    log_dir: Path
    settings: Settings
    schema: str
    db: asyncpg.Connection
    services: list[Service] = field(default_factory=list)
    proxies: list[FaultProxy] = field(default_factory=list)

    def proxy(self, url: str) -> FaultProxy:
        """A proxy to the server `url` names, cut and restored by the test."""
        proxy = FaultProxy(*target_of(url)).start()
        self.proxies.append(proxy)
        return proxy

    def service(self, name: str, **env: str) -> Service:
        """A new, not yet started process of services.<name> with env overrides."""
        module = f"services.{name}"
        number = 1 + sum(service.module == module for service in self.services)
        log_path = self.log_dir / f"{name}-{number}.log"
        # a process aborted for hanging writes every thread's stack to its log (see stop_or_dump)
        environment = {**self.env, "PYTHONFAULTHANDLER": "1", **env}
        service = Service(module, environment, log_path)
        self.services.append(service)
        return service

    async def start(self, *services: Service) -> None:
        for service in services:
            service.start()
        # waited for in threads: the test's loop must stay free while processes boot
        await asyncio.gather(*(asyncio.to_thread(service.wait_healthy) for service in services))

    async def stop(self, service: Service) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the shutdown took."""
        started = time.monotonic()
        code = await asyncio.to_thread(stop_or_dump, service)
        return code, time.monotonic() - started

    async def wait(self, condition: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
        """`eventually`, failing with the services' logs instead of a bare TimeoutError."""
        try:
            await eventually(condition, timeout_s, interval_s=0.05)
        except TimeoutError:
            pytest.fail(f"condition not met in {timeout_s}s\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {s.log_path.name}\n{s.log()}" for s in self.services)

    async def close(self) -> dict[str, int]:
        """Restore every proxy, then stop what still runs; the exit codes by log name."""
        for proxy in self.proxies:
            proxy.unblock()
        running = [s for s in self.services if s.process is not None and s.process.poll() is None]
        codes = await asyncio.gather(*(asyncio.to_thread(stop_or_dump, s) for s in running))
        for proxy in self.proxies:
            proxy.close()
        return {service.log_path.name: code for service, code in zip(running, codes, strict=True)}


def stop_or_dump(service: Service) -> int:
    """SIGTERM and wait; a process that outlives the bound is aborted to show where it hung."""
    process = service.process
    assert process is not None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # SIGABRT makes faulthandler dump the stacks; terminate() then kills what is left
        process.send_signal(signal.SIGABRT)
        return service.terminate()


# ---------------------------------------------------------------------------------------------
# what the test asks and reads


async def request_calendar(settings: Settings, todo_count: int) -> UUID:
    """Publish a CalendarRequested as todo_api would, its snapshot claim-checked into S3."""
    task_id = issue_task_id(settings.task_secret, ANONYMOUS_TENANT)
    todos = todo_snapshots(todo_count, description="Rendered under fault injection")
    event = calendar_requested(todos, task_id=task_id)
    async with open_clients(settings) as (clients, blobs):
        event = await check_in(event, blobs)
        envelope = calendar_envelope(event)
        outgoing = Outgoing(position=1, type=envelope.type, body=envelope.to_json())
        topic = Names(settings.resource_prefix).topic
        assert await SnsPublisher(clients.sns, topic).publish([outgoing]) == {}
    assert event.snapshot_key is not None, "the snapshot should travel by claim check"
    return task_id


async def render_stream(cluster: Cluster, task_id: UUID) -> list[Envelope]:
    """The worker's events for one job, in stream order."""
    rows = await cluster.db.fetch(
        f'SELECT body FROM "{cluster.schema}".calendar_worker_events '
        "WHERE stream_id = $1 ORDER BY stream_version",
        render_stream_id(task_id),
    )
    return [Envelope.from_json(row["body"]) for row in rows]


async def tracker_log(cluster: Cluster, task_id: UUID) -> list[Envelope]:
    """The calendar events job_tracker recorded for one job, in the order it consumed them."""
    rows = await cluster.db.fetch(
        f'SELECT body FROM "{cluster.schema}".job_tracker_events '
        "WHERE correlation_id = $1 ORDER BY position",
        str(task_id),
    )
    return [Envelope.from_json(row["body"]) for row in rows]


async def outbox_backlog(cluster: Cluster, owner: str) -> int:
    # the table name comes from this module, never from input
    return int(await cluster.db.fetchval(f'SELECT count(*) FROM "{cluster.schema}".{owner}_outbox'))


def types(envelopes: list[Envelope]) -> list[str]:
    return [envelope.type for envelope in envelopes]


def statuses_seen(envelopes: list[Envelope], task_id: UUID) -> list[Status]:
    """The job's status after each event the tracker consumed, repeats collapsed."""
    job, seen = Job(task_id=task_id), [Status.PENDING]
    for envelope in envelopes:
        job = evolve(job, envelope.data)
        if job.status != seen[-1]:
            seen.append(job.status)
    return seen


async def job_finished(
    cluster: Cluster, http: aiohttp.ClientSession, base_url: str, task_id: UUID
) -> dict[str, Any]:
    """Poll the public status route until the job is SUCCESS or FAILURE."""
    client = ApiClient(http, base_url)
    try:
        return await client.wait_until_finished(
            f"{base_url}/api/v1/todos/ical/{task_id}/status", timeout_s=JOB_TIMEOUT_S
        )
    except TimeoutError:
        pytest.fail(f"job {task_id} not finished in {JOB_TIMEOUT_S}s\n{cluster.logs()}")


async def stored_calendars(cluster: Cluster, task_id: UUID) -> dict[str, bytes]:
    """Every blob (S3 object or embedded file) stored for this job's calendar, by key (a job of
    the anonymous tenant's)."""
    prefix = calendar_blob_key(ANONYMOUS_TENANT, task_id).removesuffix(".ics")
    async with open_clients(cluster.settings) as (clients, blobs):
        keys = await blob_keys(clients.s3, blobs, prefix)
        return {key: await blobs.get(key) for key in keys}


async def blob_keys(s3: Any, blobs: BlobStore, prefix: str) -> list[str]:
    """The keys that start with `prefix` (BlobStore lists nothing, so each store its own way)."""
    if isinstance(blobs, FileBlobStore):
        folder, _, start = prefix.rpartition("/")
        found = blobs.root.joinpath(folder).glob(f"{start}*")
        return sorted(f"{folder}/{path.name}" for path in found if path.is_file())
    assert isinstance(blobs, S3BlobStore), blobs
    listed = await s3.list_objects_v2(Bucket=blobs.bucket, Prefix=prefix)
    return [entry["Key"] for entry in listed.get("Contents", [])]


async def assert_one_calendar(cluster: Cluster, task_id: UUID, todo_count: int) -> None:
    """One CalendarReady in the worker's log and in the tracker's, one file that matches it."""
    rendered = await render_stream(cluster, task_id)
    ready = [e.data for e in rendered if isinstance(e.data, CalendarReady)]
    assert len(ready) == 1, types(rendered)
    assert "CalendarFailed" not in types(rendered)
    assert types(await tracker_log(cluster, task_id)).count("CalendarReady") == 1
    files = await stored_calendars(cluster, task_id)
    assert list(files) == [ready[0].blob_key]
    body = files[ready[0].blob_key]
    assert hashlib.sha256(body).hexdigest() == ready[0].sha256
    assert (len(body), ready[0].event_count) == (ready[0].size_bytes, todo_count)


def attempts(envelopes: list[Envelope]) -> list[int]:
    return [e.data.attempt for e in envelopes if isinstance(e.data, CalendarStarted)]


async def started(cluster: Cluster, task_id: UUID) -> bool:
    return "CalendarStarted" in types(await render_stream(cluster, task_id))
