"""Cancelling calendar jobs over HTTP, against the services as processes on each broker (SNS/SQS
on moto, and the embedded transport), and against `make run` in one process."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import aiohttp
import pytest

from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.contracts.topology import CALENDAR_WORKER, Names
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.cluster import Cluster, render_stream, tracker_log, types
from tests.support.processes import EmbeddedStack

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

JOB_TIMEOUT_S = 30


async def cancel(http: aiohttp.ClientSession, base_url: str, task_id: str) -> tuple[int, Any]:
    async with http.delete(f"{base_url}/api/v1/todos/ical/{task_id}") as response:
        return response.status, await response.json()


async def worker_queue_depth(settings: Settings) -> int:
    """Messages in the worker's queue, waiting or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    async with transport_client(settings, "sqs") as sqs:
        url = await sqs.get_queue_url(
            QueueName=Names(settings.resource_prefix).queue(CALENDAR_WORKER)
        )
        found = await sqs.get_queue_attributes(QueueUrl=url["QueueUrl"], AttributeNames=names)
    return sum(int(found["Attributes"][name]) for name in names)


async def test_a_job_cancelled_before_a_worker_saw_it_ends_as_the_worker_decided(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    tracker = cluster.service("job_tracker")
    api = cluster.service("todo_api", JOB_TRACKER_URL=tracker.url)
    await cluster.start(tracker, api)
    client = ApiClient(http, api.url)
    await client.create_todo(title="Never wanted after all")
    job = await client.request_calendar()

    first = await cancel(http, api.url, job["task_id"])
    second = await cancel(http, api.url, job["task_id"])

    # no worker has decided the cancel: the answers say where the job stands, not how it ends
    expected = {"task_id": job["task_id"], "task_status": "PENDING", "task_url": job["task_url"]}
    assert first == second == (202, expected)
    # a worker started now finds the request and its cancel waiting in its queue
    await cluster.start(cluster.service("calendar_worker"))
    ended = await client.wait_until_finished(job["task_url"], timeout_s=JOB_TIMEOUT_S)
    task_id = UUID(job["task_id"])

    async def drained() -> bool:
        return await worker_queue_depth(cluster.settings) == 0

    await cluster.wait(drained, timeout_s=JOB_TIMEOUT_S)
    # the render stream ends once: revoked, or (both messages in hand at once, the request
    # handled first) rendered; the tracker says what it decided, and a cancel now says so too
    outcomes = [
        kind for kind in types(await render_stream(cluster, task_id)) if kind != "CalendarStarted"
    ]
    assert len(outcomes) == 1, outcomes
    decided = {"CalendarRevoked": "REVOKED", "CalendarReady": "SUCCESS"}[outcomes[0]]
    assert ended["task_status"] == decided
    third = await cancel(http, api.url, job["task_id"])
    assert third[0] == (202 if decided == "REVOKED" else 409)
    status, body = await client.status(job["task_url"])
    assert (status, body["task_status"]) == (200, decided)
    if decided == "REVOKED":
        code, _, result, _ = await client.result(body["result_url"])
        assert (code, json.loads(result)) == (404, {"error": "Task not finished"})


async def test_a_finished_job_cannot_be_cancelled_and_unknown_ones_are_not_found(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    tracker, worker = cluster.service("job_tracker"), cluster.service("calendar_worker")
    api = cluster.service("todo_api", JOB_TRACKER_URL=tracker.url)
    await cluster.start(tracker, worker, api)
    client = ApiClient(http, api.url)
    await client.create_todo(title="Rendered at once")
    job = await client.request_calendar()
    final = await client.wait_until_finished(job["task_url"], timeout_s=JOB_TIMEOUT_S)

    finished = await cancel(http, api.url, job["task_id"])
    made_up = await cancel(http, api.url, str(uuid4()))
    never_requested = await cancel(
        http, api.url, str(issue_task_id(cluster.settings.task_secret, ANONYMOUS_TENANT))
    )

    assert final["task_status"] == "SUCCESS"
    assert finished == (409, {"error": "Task already finished"})
    assert made_up == never_requested == (404, {"error": "Task not found"})
    assert (await client.status(job["task_url"]))[1]["task_status"] == "SUCCESS"
    # a small calendar is rendered at once: no progress event reached the tracker
    delivered = types(await tracker_log(cluster, UUID(job["task_id"])))
    assert "CalendarProgress" not in delivered
    assert "CalendarReady" in delivered


async def test_make_run_answers_a_cancel_from_the_trackers_tables_in_process(
    embedded_stack: EmbeddedStack, http: aiohttp.ClientSession
) -> None:
    client = ApiClient(http, embedded_stack.url)
    job = await client.request_calendar()
    final = await client.wait_until_finished(job["task_url"], timeout_s=JOB_TIMEOUT_S)

    finished = await cancel(http, embedded_stack.url, job["task_id"])
    made_up = await cancel(http, embedded_stack.url, "not-a-task")

    assert final["task_status"] == "SUCCESS"
    assert finished == (409, {"error": "Task already finished"})
    assert made_up == (404, {"error": "Task not found"})
