"""Delivery guarantees under faults: killed and stopped workers, an unreachable broker or database.

Services run as real processes against moto server and PostgreSQL. A fault is injected by giving
one service its AWS endpoint or database through a `FaultProxy` and cutting that proxy; the
servers themselves, and every other service, are never disturbed.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import icalendar
import pytest

from services.job_tracker.jobs import Job, Status, evolve
from shared.aws import aws_client
from shared.blobs import S3BlobStore
from shared.bus import Outgoing, SnsPublisher
from shared.claim_check import check_in
from shared.db import COMMAND_TIMEOUT_S
from shared.envelope import Envelope, wrap
from shared.events import CalendarReady, CalendarRequested, CalendarStarted, TodoSnapshot
from shared.runtime import SHUTDOWN_GRACE_S
from shared.settings import Settings
from shared.task_ids import issue_task_id
from shared.topology import Names
from tests.conftest import POSTGRES_URL
from tests.e2e.api_client import ApiClient
from tests.e2e.processes import STOP_TIMEOUT_S, Service
from tests.faults import FaultProxy, proxied_url, target_of
from tests.polling import eventually

NOW = datetime(2024, 4, 17, 14, 0)
# large enough that rendering takes seconds (a window to kill or stop the worker in), small
# enough that a retry still fits the test's patience
SLOW_JOB_TODOS = 60_000
MEDIUM_JOB_TODOS = 20_000
JOB_TIMEOUT_S = 90.0
# the grace a service gives in-flight work and its outbox flush, plus process exit slack
SHUTDOWN_BOUND_S = SHUTDOWN_GRACE_S + 5.0
# a refused connection is noticed at once; a silent one when asyncpg's command timeout expires,
# after which SQLAlchemy spends up to 2 s closing the dead connection gracefully
SQLALCHEMY_CLOSE_S = 2.0
OUTAGE_ANSWER_S = {"block": 3.0, "stall": COMMAND_TIMEOUT_S + SQLALCHEMY_CLOSE_S + 2.0}


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


# ---------------------------------------------------------------------------------------------
# what the test asks and reads


async def request_calendar(settings: Settings, todo_count: int) -> UUID:
    """Publish a CalendarRequested as todo_api would, its snapshot claim-checked into S3."""
    task_id = issue_task_id(settings.task_secret)
    todos = tuple(
        TodoSnapshot(
            id=number,
            title=f"Todo {number}",
            description="Rendered under fault injection",
            completed=False,
            deadline_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )
        for number in range(1, todo_count + 1)
    )
    event = CalendarRequested(task_id=task_id, requested_at=NOW, todo_count=todo_count, todos=todos)
    names = Names(settings.resource_prefix)
    async with aws_client(settings, "s3") as s3, aws_client(settings, "sns") as sns:
        event = await check_in(event, S3BlobStore(s3, names.bucket))
        envelope = wrap(
            event, stream_id=f"calendar-{task_id}", stream_version=1, correlation_id=task_id
        )
        outgoing = Outgoing(position=1, type=envelope.type, body=envelope.to_json())
        assert await SnsPublisher(sns, names.topic).publish([outgoing]) == {}
    assert event.snapshot_key is not None, "the snapshot should travel by claim check"
    return task_id


async def render_stream(cluster: Cluster, task_id: UUID) -> list[Envelope]:
    """The worker's events for one job, in stream order."""
    rows = await cluster.db.fetch(
        f'SELECT body FROM "{cluster.schema}".calendar_worker_events '
        "WHERE stream_id = $1 ORDER BY stream_version",
        f"render-{task_id}",
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
    """Every object S3 holds for this job's calendar, by key."""
    bucket = Names(cluster.settings.resource_prefix).bucket
    async with aws_client(cluster.settings, "s3") as s3:
        listed = await s3.list_objects_v2(Bucket=bucket, Prefix=f"calendars/{task_id}")
        keys = [entry["Key"] for entry in listed.get("Contents", [])]
        return {key: await S3BlobStore(s3, bucket).get(key) for key in keys}


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


# ---------------------------------------------------------------------------------------------
# the fault injector itself


async def echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def round_trip(port: int, payload: bytes) -> bytes:
    async with asyncio.timeout(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(payload)
            await writer.drain()
            return await reader.readexactly(len(payload))
        finally:
            writer.close()


async def read_or_reset(reader: asyncio.StreamReader) -> bytes:
    """What arrives next; a connection reset reads as the end of the stream."""
    try:
        return await reader.read(1)
    except ConnectionResetError:
        return b""


class TestFaultProxy:
    async def test_forwards_refuses_while_blocked_and_recovers(self) -> None:
        server, port = await echo_server()
        with FaultProxy("127.0.0.1", port) as proxy:
            assert await round_trip(proxy.port, b"before") == b"before"

            proxy.block()
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await round_trip(proxy.port, b"blocked")
            proxy.unblock()

            assert await round_trip(proxy.port, b"after") == b"after"
            assert proxy.refused == 1
        server.close()

    async def test_block_resets_open_connections(self) -> None:
        server, port = await echo_server()
        with FaultProxy("127.0.0.1", port) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"x")
            async with asyncio.timeout(3):
                assert await reader.readexactly(1) == b"x"
            proxy.block()
            async with asyncio.timeout(3):
                assert await read_or_reset(reader) == b""
            writer.close()
            assert proxy.reset == 1
        server.close()

    async def test_a_stalled_connection_is_silent_until_unblocked(self) -> None:
        server, port = await echo_server()
        with FaultProxy("127.0.0.1", port) as proxy:
            proxy.stall()
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"held")
            await writer.drain()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await reader.read(4)
            proxy.unblock()
            async with asyncio.timeout(3):
                assert await reader.readexactly(4) == b"held"
            writer.close()
        server.close()

    def test_a_proxied_url_keeps_everything_but_the_address(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with FaultProxy("127.0.0.1", port) as proxy:
            url = "postgresql+asyncpg://postgres:secret@db.example:5432/test?ssl=off"
            assert target_of(url) == ("db.example", 5432)
            assert proxied_url(url, proxy) == (
                f"postgresql+asyncpg://postgres:secret@127.0.0.1:{proxy.port}/test?ssl=off"
            )
            assert proxied_url("http://127.0.0.1:4566", proxy) == f"http://{proxy.address}"


# ---------------------------------------------------------------------------------------------
# delivery guarantees


async def test_a_worker_killed_mid_job_leaves_it_to_another_that_finishes_it_once(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    tracker, first = cluster.service("job_tracker"), cluster.service("calendar_worker")
    await cluster.start(tracker, first)
    task_id = await request_calendar(cluster.settings, SLOW_JOB_TODOS)

    await cluster.wait(lambda: started(cluster, task_id), timeout_s=60)
    first.kill()
    assert types(await render_stream(cluster, task_id)) == ["CalendarStarted"], "killed too late"
    await cluster.start(cluster.service("calendar_worker"))
    final = await job_finished(cluster, http, tracker.url, task_id)

    assert final["task_status"] == "SUCCESS", final
    await assert_one_calendar(cluster, task_id, SLOW_JOB_TODOS)
    # the second worker got the message again after the visibility timeout: attempt 2
    assert attempts(await render_stream(cluster, task_id)) == [1, 2]
    seen = statuses_seen(await tracker_log(cluster, task_id), task_id)
    assert seen[-1] == Status.SUCCESS
    assert {Status.STARTED, Status.RETRY} & set(seen), seen


async def test_requests_wait_in_the_outbox_while_the_broker_is_down_even_across_a_restart(
    cluster: Cluster, http: aiohttp.ClientSession, moto_url: str
) -> None:
    aws = cluster.proxy(moto_url)
    tracker, worker = cluster.service("job_tracker"), cluster.service("calendar_worker")
    api = cluster.service(
        "todo_api", AWS_ENDPOINT_URL=proxied_url(moto_url, aws), JOB_TRACKER_URL=tracker.url
    )
    await cluster.start(tracker, worker, api)
    client = ApiClient(http, api.url)
    await client.create_todo(title="Before the outage")
    await cluster.wait(lambda: _equals(outbox_backlog(cluster, "todo_api"), 0), timeout_s=20)

    aws.block()
    await client.create_todo(title="During the outage")
    accepted = await client.request_calendar()
    # the relay keeps trying and failing; the events stay stored
    await cluster.wait(lambda: _at_least(aws, refused=2), timeout_s=20)
    assert await outbox_backlog(cluster, "todo_api") == 2

    code, elapsed_s = await cluster.stop(api)
    assert (code, elapsed_s < SHUTDOWN_BOUND_S) == (0, True), (elapsed_s, api.log())
    assert await outbox_backlog(cluster, "todo_api") == 2
    await cluster.start(api)
    aws.unblock()
    final = await job_finished(cluster, http, api.url, UUID(accepted["task_id"]))

    assert final["task_status"] == "SUCCESS", final
    await cluster.wait(lambda: _equals(outbox_backlog(cluster, "todo_api"), 0), timeout_s=20)
    async with http.get(final["result_url"]) as response:
        calendar = icalendar.Calendar.from_ical(await response.read())
    summaries = [str(event["SUMMARY"]) for event in calendar.walk("VEVENT")]
    assert summaries == ["Before the outage", "During the outage"]
    await assert_one_calendar(cluster, UUID(accepted["task_id"]), 2)


# botocore retries a request 3 times within about 3 s: a short outage is absorbed inside the
# attempt; a longer one fails it, and the message comes back for a second attempt
@pytest.mark.parametrize(
    ("outage_s", "attempts_expected"),
    [pytest.param(2.0, None, id="absorbed"), pytest.param(8.0, [1, 2], id="retried")],
)
async def test_a_job_survives_the_broker_and_bucket_vanishing_while_it_runs(
    cluster: Cluster,
    http: aiohttp.ClientSession,
    moto_url: str,
    outage_s: float,
    attempts_expected: list[int] | None,
) -> None:
    aws = cluster.proxy(moto_url)
    tracker = cluster.service("job_tracker")
    worker = cluster.service("calendar_worker", AWS_ENDPOINT_URL=proxied_url(moto_url, aws))
    await cluster.start(tracker, worker)
    task_id = await request_calendar(cluster.settings, MEDIUM_JOB_TODOS)

    await cluster.wait(lambda: started(cluster, task_id), timeout_s=60)
    aws.block()
    await asyncio.sleep(outage_s)
    aws.unblock()
    final = await job_finished(cluster, http, tracker.url, task_id)

    assert final["task_status"] == "SUCCESS", final
    await assert_one_calendar(cluster, task_id, MEDIUM_JOB_TODOS)
    # the outage really hit the worker: its open connections were cut, new ones refused
    assert aws.reset + aws.refused > 0, aws
    if attempts_expected is not None:
        assert attempts(await render_stream(cluster, task_id)) == attempts_expected


@pytest.mark.parametrize("fault", ["block", "stall"])
async def test_a_database_outage_answers_503_at_once_and_heals_without_a_restart(
    cluster: Cluster, http: aiohttp.ClientSession, fault: str
) -> None:
    database = cluster.proxy(POSTGRES_URL)
    api = cluster.service("todo_api", DATABASE_URL=proxied_url(POSTGRES_URL, database))
    await cluster.start(api)
    client = ApiClient(http, api.url)
    todo = await client.create_todo(title="Stored before the outage")

    getattr(database, fault)()
    for method, path, body in OUTAGE_REQUESTS:
        code, answer, elapsed_s = await timed_request(http, method, f"{api.url}{path}", body)
        assert (code, "error" in answer) == (503, True), (method, path, code, answer)
        assert elapsed_s < OUTAGE_ANSWER_S[fault], (method, path, elapsed_s)
    database.unblock()

    async def listed() -> bool:
        code, answer, _ = await timed_request(http, "GET", f"{api.url}/api/v1/todos", None)
        return code == 200 and answer == [todo]

    await cluster.wait(listed, timeout_s=20)
    created = await client.create_todo(title="Stored after the outage")
    assert created["id"] == todo["id"] + 1


OUTAGE_REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/todos", None),
    ("POST", "/api/v1/todos", {"title": "Written during the outage"}),
    ("GET", "/api/v1/todos/1", None),
    ("POST", "/api/v1/todos/ical", None),
]


async def timed_request(
    http: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any] | None
) -> tuple[int, Any, float]:
    """Status, JSON answer and duration of one request (bounded by the session's timeout)."""
    started_at = time.monotonic()
    async with http.request(method, url, json=body) as response:
        answer = await response.json(content_type=None)
        return response.status, answer, time.monotonic() - started_at


async def test_a_worker_stopped_mid_job_finishes_it_and_exits_cleanly(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    tracker, first = cluster.service("job_tracker"), cluster.service("calendar_worker")
    await cluster.start(tracker, first)
    task_id = await request_calendar(cluster.settings, MEDIUM_JOB_TODOS)

    await cluster.wait(lambda: started(cluster, task_id), timeout_s=60)
    assert types(await render_stream(cluster, task_id)) == ["CalendarStarted"], "stopped too late"
    code, elapsed_s = await cluster.stop(first)
    assert (code, elapsed_s < SHUTDOWN_BOUND_S) == (0, True), (elapsed_s, first.log())
    # a restarted worker finds nothing left to do, or finishes what was released
    await cluster.start(cluster.service("calendar_worker"))
    final = await job_finished(cluster, http, tracker.url, task_id)

    assert final["task_status"] == "SUCCESS", final
    await assert_one_calendar(cluster, task_id, MEDIUM_JOB_TODOS)
    # the stopping worker drained its in-flight job instead of abandoning it
    assert attempts(await render_stream(cluster, task_id)) == [1]


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _at_least(proxy: FaultProxy, *, refused: int) -> bool:
    return proxy.refused >= refused
