"""Under load and through a database outage: every job finishes once, nothing is dead-lettered.

Against LocalStack (make test-localstack), which enforces AWS's batch limits, the load is the
full 200 requests of 100 todos; against moto, which is slower and enforces nothing, and the
embedded transport, a smaller one that still fills every batch. The services run as processes on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any
from uuid import UUID

import aiohttp
import icalendar
import pytest

from shared.contracts.responses import TERMINAL_STATUSES
from shared.contracts.topology import QUEUES, Names
from shared.messaging.transports import transport_client
from tests.support.api_client import ApiClient
from tests.support.cluster import Cluster
from tests.support.environment import POSTGRES_URL
from tests.support.faults import proxied_url
from tests.support.processes import Service

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

ON_LOCALSTACK = bool(os.environ.get("TEST_AWS_ENDPOINT_URL"))
LOAD_JOBS = 200 if ON_LOCALSTACK else 40
TODOS_PER_JOB = 100
SUBMIT_CONCURRENCY = 16
LOAD_TIMEOUT_S = 300.0
# longer than the whole retry budget of a message in these tests (3 receives, 5 s visibility)
OUTAGE_S = 25.0


async def start_stack(cluster: Cluster, workers: int, **worker_env: str) -> tuple[Service, ...]:
    """job_tracker, `workers` calendar workers and todo_api; returns (api, tracker, *workers)."""
    tracker = cluster.service("job_tracker", **worker_env)
    running = [cluster.service("calendar_worker", **worker_env) for _ in range(workers)]
    api = cluster.service("todo_api", JOB_TRACKER_URL=tracker.url)
    await cluster.start(tracker, *running, api)
    return (api, tracker, *running)


async def create_todos(client: ApiClient, count: int) -> None:
    for number in range(1, count + 1):
        await client.create_todo(title=f"Todo {number}", deadline_at="2024-04-17T14:00:00")


async def submit(client: ApiClient, count: int) -> list[UUID]:
    """`count` calendar requests, SUBMIT_CONCURRENCY at a time; every one answered 202."""
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)

    async def one() -> UUID:
        async with gate:
            return UUID((await client.request_calendar())["task_id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def wait_all_finished(
    cluster: Cluster, client: ApiClient, task_ids: list[UUID], timeout_s: float = LOAD_TIMEOUT_S
) -> dict[UUID, dict[str, Any]]:
    """Poll every job's status until all are terminal; their last answers."""
    finished: dict[UUID, dict[str, Any]] = {}

    async def poll(task_id: UUID) -> None:
        url = f"{client.base_url}/api/v1/todos/ical/{task_id}/status"
        status, body = await client.status(url)
        if status == 200 and body["task_status"] in TERMINAL_STATUSES:
            finished[task_id] = body

    async def all_finished() -> bool:
        waiting = [task_id for task_id in task_ids if task_id not in finished]
        for start in range(0, len(waiting), SUBMIT_CONCURRENCY):
            await asyncio.gather(*(poll(t) for t in waiting[start : start + SUBMIT_CONCURRENCY]))
        return len(finished) == len(task_ids)

    await cluster.wait(all_finished, timeout_s)
    return finished


async def ready_counts(cluster: Cluster, owner: str) -> dict[str, int]:
    """CalendarReady events per task id in one service's event log."""
    rows = await cluster.db.fetch(
        f'SELECT correlation_id, count(*) AS n FROM "{cluster.schema}".{owner}_events '
        "WHERE type = 'CalendarReady' GROUP BY correlation_id"
    )
    return {row["correlation_id"]: row["n"] for row in rows}


async def assert_each_succeeded_once(
    cluster: Cluster, client: ApiClient, finished: dict[UUID, dict[str, Any]]
) -> None:
    failed = {
        task_id: body for task_id, body in finished.items() if body["task_status"] != "SUCCESS"
    }
    assert not failed, f"{len(failed)} jobs did not succeed: {list(failed.values())[:3]}"
    expected = {str(task_id): 1 for task_id in finished}
    assert await ready_counts(cluster, "calendar_worker") == expected
    assert await ready_counts(cluster, "job_tracker") == expected
    for body in list(finished.values())[:: max(1, len(finished) // 20)]:
        code, _, calendar, _ = await client.result(body["result_url"])
        assert code == 200
        events = icalendar.Calendar.from_ical(calendar).walk("VEVENT")
        assert len(events) == TODOS_PER_JOB
        assert hashlib.sha256(calendar).hexdigest() == await stored_sha256(cluster, body)


async def stored_sha256(cluster: Cluster, body: dict[str, Any]) -> str:
    row = await cluster.db.fetchval(
        f'SELECT body FROM "{cluster.schema}".calendar_worker_events '
        "WHERE correlation_id = $1 AND type = 'CalendarReady'",
        body["task_id"],
    )
    return str(json.loads(row)["data"]["sha256"])


async def dead_letters(cluster: Cluster) -> dict[str, int]:
    names = Names(cluster.settings.resource_prefix)
    depths: dict[str, int] = {}
    async with transport_client(cluster.settings, "sqs") as sqs:
        for spec in QUEUES:
            url = (await sqs.get_queue_url(QueueName=names.dlq(spec)))["QueueUrl"]
            attributes = await sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
            values = attributes["Attributes"]
            depths[spec.dlq_name] = int(values["ApproximateNumberOfMessages"]) + int(
                values["ApproximateNumberOfMessagesNotVisible"]
            )
    return depths


async def test_many_concurrent_requests_with_two_workers_each_succeed_once(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    api, *_ = await start_stack(cluster, workers=2)
    client = ApiClient(http, api.url)
    await create_todos(client, TODOS_PER_JOB)

    task_ids = await submit(client, LOAD_JOBS)
    finished = await wait_all_finished(cluster, client, task_ids)

    await assert_each_succeeded_once(cluster, client, finished)
    assert set((await dead_letters(cluster)).values()) == {0}


async def test_a_worker_killed_under_load_and_started_again_leaves_every_job_finished_once(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    api, _tracker, first, _second = await start_stack(cluster, workers=2)
    client = ApiClient(http, api.url)
    await create_todos(client, TODOS_PER_JOB)

    submitting = asyncio.create_task(submit(client, LOAD_JOBS))
    await cluster.wait(lambda: _rendered_at_least(cluster, LOAD_JOBS // 10), 120)
    first.kill()
    replacement = cluster.service("calendar_worker")
    await cluster.start(replacement)
    finished = await wait_all_finished(cluster, client, await submitting)

    await assert_each_succeeded_once(cluster, client, finished)


async def test_a_database_outage_longer_than_the_retry_budget_dead_letters_nothing(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    database = cluster.proxy(POSTGRES_URL)
    api, *_ = await start_stack(
        cluster, workers=1, DATABASE_URL=proxied_url(POSTGRES_URL, database)
    )
    client = ApiClient(http, api.url)
    await create_todos(client, TODOS_PER_JOB)
    before = await submit(client, 20)
    await cluster.wait(lambda: _rendered_at_least(cluster, 1), 60)

    # connections of the worker and the tracker cut and refused, as in a failover
    database.block()
    during = await submit(client, 20)
    await asyncio.sleep(OUTAGE_S)
    database.unblock()
    finished = await wait_all_finished(cluster, client, before + during)

    await assert_each_succeeded_once(cluster, client, finished)
    assert set((await dead_letters(cluster)).values()) == {0}


async def _rendered_at_least(cluster: Cluster, count: int) -> bool:
    """At least `count` jobs whose render began: a start recorded, or (a quick render records
    none) already an outcome."""
    found = await cluster.db.fetchval(
        f'SELECT count(DISTINCT stream_id) FROM "{cluster.schema}".calendar_worker_events '
        "WHERE type IN ('CalendarStarted', 'CalendarReady', 'CalendarFailed')"
    )
    return int(found) >= count
