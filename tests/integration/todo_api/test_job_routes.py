"""The job routes on todo_api's port: forwarded to JOB_TRACKER_URL, or answered in process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from services.todo_api.in_process_tracker import InProcessTracker
from shared.contracts.ops_report import JobsOverview
from shared.settings import Settings

Client = TestClient[web.Request, web.Application]
STATUS = "/api/v1/todos/ical/{}/status"
RESULT = "/api/v1/todos/ical/{}/result"


async def answered_here(request: web.Request) -> web.StreamResponse:
    route = "status" if request.path.endswith("/status") else "result"
    return web.json_response({"route": route, "task_id": request.match_info["task_id"]})


async def no_figures() -> JobsOverview:
    raise AssertionError("the job routes ask for no figures")


@pytest.fixture
async def client(service_settings: Settings) -> AsyncIterator[Client]:
    # no JOB_TRACKER_URL: only the local tracker can answer
    local = InProcessTracker(
        status_view=answered_here,
        result_view=answered_here,
        events_view=answered_here,
        history_view=answered_here,
        in_flight_view=answered_here,
        overview_of=no_figures,
    )
    app = create_app(service_settings.model_copy(update={"job_tracker_url": None}), tracker=local)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_local_tracker_answers_status_and_result_without_an_http_hop(
    client: Client,
) -> None:
    status = await client.get(STATUS.format("abc"))
    result = await client.get(RESULT.format("abc"))

    assert await status.json() == {"route": "status", "task_id": "abc"}
    assert await result.json() == {"route": "result", "task_id": "abc"}


async def test_without_a_local_tracker_or_url_the_job_routes_say_so(
    service_settings: Settings,
) -> None:
    app = create_app(service_settings.model_copy(update={"job_tracker_url": None}))
    async with TestClient(TestServer(app)) as client:
        response = await client.get(STATUS.format("abc"))

        assert response.status == 503
        assert "JOB_TRACKER_URL" in (await response.json())["error"]


async def test_a_forwarded_request_carries_its_id_and_trace_to_the_tracker(
    service_settings: Settings,
) -> None:
    seen: list[dict[str, str]] = []

    async def tracker_status(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"route": "status"})

    tracker = web.Application()
    tracker.router.add_get("/api/v1/todos/ical/{task_id}/status", tracker_status)
    async with TestServer(tracker) as upstream:
        tracker_url = str(upstream.make_url("/"))
        app = create_app(service_settings.model_copy(update={"job_tracker_url": tracker_url}))
        async with TestClient(TestServer(app)) as client:
            traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            sent = {"X-Request-ID": "req-42", "traceparent": traceparent}
            response = await client.get(STATUS.format("abc"), headers=sent)
            assert await response.json() == {"route": "status"}

    [headers] = seen
    assert headers["X-Request-ID"] == "req-42"
    # the same trace, continued from todo_api's span
    assert headers["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert headers["X-Forwarded-Proto"] == "http"
