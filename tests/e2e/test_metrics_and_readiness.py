"""The services as processes, observed from outside: what one job moves in each service's
/metrics (on its metrics port), and /api/v1/ready through an outage of the database or the
broker."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from shared.app.readiness import CHECK_TIMEOUT_S
from tests.support.api_client import ApiClient
from tests.support.cluster import Cluster
from tests.support.environment import OUTAGE_DATABASE_TIMEOUTS, POSTGRES_URL
from tests.support.faults import proxied_url
from tests.support.polling import eventually
from tests.support.processes import Service, Stack
from tests.support.scrapes import Scrape

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

READY = {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
# a check gives up after CHECK_TIMEOUT_S; the rest is the request's own way there and back
READY_ANSWER_S = CHECK_TIMEOUT_S + 1.5
STATUS_ROUTE = "/api/v1/todos/ical/{task_id}/status"


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json(content_type=None)


async def scrape(http: aiohttp.ClientSession, service: Service) -> Scrape:
    async with http.get(f"{service.metrics_url}/metrics") as response:
        assert response.status == 200, await response.text()
        return Scrape.parse(await response.text())


async def test_one_job_moves_each_service_s_counters_by_one(
    stack: Stack, api: ApiClient, http: aiohttp.ClientSession, broker: str
) -> None:
    await api.create_todo(title="Write the report")
    accepted = await api.request_calendar()
    final = await api.wait_until_finished(accepted["task_url"])
    assert final["task_status"] == "SUCCESS", final

    async def tracker_folded_the_outcome() -> bool:
        found = await scrape(http, stack.tracker)
        return found.value("consumer_messages_handled_total", consumer="job-tracker") == 2

    await eventually(tracker_folded_the_outcome, timeout_s=10)
    todo_api, tracker, worker = [await scrape(http, service) for service in stack.services]

    def requests(found: Scrape, route: str, method: str, status: str) -> float | None:
        return found.value("http_requests_total", route=route, method=method, status=status)

    assert requests(todo_api, "/api/v1/todos", "POST", "201") == 1
    assert requests(todo_api, "/api/v1/todos/ical", "POST", "202") == 1
    # the request went out; the todo change stays in the log (no queue subscribes to it)
    assert todo_api.value("relay_events_published_total") == 1
    assert todo_api.value("outbox_backlog_events") == 0

    worker_queue = {"consumer": "calendar-worker"}
    assert worker.value("consumer_messages_received_total", **worker_queue) == 1
    assert worker.value("consumer_messages_handled_total", **worker_queue) == 1
    assert worker.value("consumer_messages_failed_total", **worker_queue) == 0
    assert worker.value("consumer_message_age_seconds_count", **worker_queue) == 1
    # CalendarReady, and no CalendarStarted for a small calendar
    assert worker.value("relay_events_published_total") == 1
    assert worker.value("calendar_renders_total") == 1
    assert worker.value("calendar_rendered_todos_total") == 1

    tracker_queue = {"consumer": "job-tracker"}
    assert tracker.value("consumer_messages_received_total", **tracker_queue) == 2
    assert tracker.value("consumer_messages_failed_total", **tracker_queue) == 0
    assert tracker.value("calendar_job_duration_seconds_count", state="SUCCESS") == 1
    assert tracker.value("calendar_jobs", state="SUCCESS") == 1
    assert tracker.value("calendar_jobs", state="PENDING") == 0
    # every status poll went through todo_api to job_tracker, each counted under its template
    polls = requests(todo_api, STATUS_ROUTE, "GET", "200")
    assert polls is not None
    assert polls >= 1
    assert requests(tracker, STATUS_ROUTE, "GET", "200") == polls

    if broker == "aws":
        sns = {"service": "sns"}
        assert todo_api.value("aws_requests_total", operation="PublishBatch", **sns) == 1
        assert worker.value("aws_requests_total", operation="PublishBatch", **sns) == 1
        put = worker.value("aws_requests_total", service="s3", operation="PutObject")
        assert put == 1
    else:
        # the embedded transport makes no AWS requests
        assert "aws_requests_total" not in todo_api.names() | worker.names() | tracker.names()


async def ready_within_bound(http: aiohttp.ClientSession, service: Service) -> tuple[int, Any]:
    started = time.monotonic()
    answer = await get(http, f"{service.url}/api/v1/ready")
    assert time.monotonic() - started < READY_ANSWER_S
    return answer


async def all_ready(http: aiohttp.ClientSession, *services: Service) -> bool:
    return all([await get(http, f"{s.url}/api/v1/ready") == (200, READY) for s in services])


class TestReadinessThroughADatabaseOutage:
    # the database sits behind the proxy; the embedded broker is a file the outage leaves alone
    @pytest.fixture
    def broker(self) -> str:
        return "embedded"

    @pytest.mark.parametrize("fault", ["block", "stall"])
    async def test_ready_answers_503_naming_the_database_and_200_once_it_is_back(
        self, cluster: Cluster, http: aiohttp.ClientSession, fault: str
    ) -> None:
        database = cluster.proxy(POSTGRES_URL)
        proxied = proxied_url(POSTGRES_URL, database)
        api = cluster.service("todo_api", DATABASE_URL=proxied, **OUTAGE_DATABASE_TIMEOUTS)
        tracker = cluster.service("job_tracker", DATABASE_URL=proxied, **OUTAGE_DATABASE_TIMEOUTS)
        await cluster.start(api, tracker)
        for service in (api, tracker):
            assert await ready_within_bound(http, service) == (200, READY)

        getattr(database, fault)()
        for service in (api, tracker):
            code, body = await ready_within_bound(http, service)
            assert (code, body["error"]) == (503, "Not ready: database unavailable"), body
            assert body["checks"]["broker"] == "ok"
            assert body["checks"]["database"] in (
                "unreachable",
                f"no answer within {CHECK_TIMEOUT_S:g}s",
            )
            # alive all the same: restarting it would not bring the database back
            assert await get(http, f"{service.url}/api/v1/health") == (200, {"status": "ok"})
        # the metrics answer without the database, leaving out what they read from it
        started = time.monotonic()
        found = await scrape(http, tracker)
        assert time.monotonic() - started < READY_ANSWER_S
        assert "calendar_jobs" not in found.names()
        assert (
            found.value("http_requests_total", route="/api/v1/ready", method="GET", status="503")
            == 1
        )
        database.unblock()

        await cluster.wait(lambda: all_ready(http, api, tracker), timeout_s=30)
        assert (await scrape(http, tracker)).value("calendar_jobs", state="PENDING") == 0


class TestReadinessThroughABrokerOutage:
    # a FaultProxy cuts the AWS endpoint; the embedded transport is a file, with nothing to cut
    @pytest.fixture
    def broker(self) -> str:
        return "aws"

    async def test_ready_answers_503_naming_the_broker_and_200_once_it_is_back(
        self, cluster: Cluster, http: aiohttp.ClientSession, moto_url: str
    ) -> None:
        aws = cluster.proxy(moto_url)
        endpoint = proxied_url(moto_url, aws)
        api = cluster.service("todo_api", AWS_ENDPOINT_URL=endpoint)
        worker = cluster.service("calendar_worker", AWS_ENDPOINT_URL=endpoint)
        await cluster.start(api, worker)
        for service in (api, worker):
            assert await ready_within_bound(http, service) == (200, READY)

        aws.block()
        for service in (api, worker):
            code, body = await ready_within_bound(http, service)
            assert (code, body["error"]) == (503, "Not ready: broker unavailable"), body
            assert body["checks"]["database"] == "ok"
        aws.unblock()

        await cluster.wait(lambda: all_ready(http, api, worker), timeout_s=30)
