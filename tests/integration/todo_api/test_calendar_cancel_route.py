"""DELETE /api/v1/todos/ical/{task_id} on a real socket, once on each database: the job tracker
answers the job's state in process (the embedded mode) or at JOB_TRACKER_URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from services.todo_api.app_keys import store_key
from services.todo_api.in_process_tracker import InProcessTracker
from shared.contracts.ops_report import JobsOverview
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.messaging.outbox import SqlOutbox
from shared.settings import Settings
from tests.support.todo_http import Client, error_of

JOBS = "/api/v1/todos/ical"


@dataclass
class FakeTracker:
    """The tracker's status route: answers `status` for every job, and counts the questions."""

    status: str = "PENDING"
    asked: list[str] = field(default_factory=list)

    async def status_view(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        self.asked.append(task_id)
        return web.json_response({"task_id": task_id, "task_status": self.status})

    async def not_asked(self, _request: web.Request) -> web.StreamResponse:
        raise AssertionError("a cancel asks only for the status")

    async def no_figures(self) -> JobsOverview:
        raise AssertionError("a cancel asks only for the status")


@pytest.fixture
def tracker() -> FakeTracker:
    return FakeTracker()


@pytest.fixture(params=["in process", "over HTTP"])
async def client(
    request: pytest.FixtureRequest, service_settings: Settings, tracker: FakeTracker
) -> AsyncIterator[Client]:
    if request.param == "in process":
        local = InProcessTracker(
            status_view=tracker.status_view,
            result_view=tracker.not_asked,
            events_view=tracker.not_asked,
            history_view=tracker.not_asked,
            in_flight_view=tracker.not_asked,
            overview_of=tracker.no_figures,
        )
        app = create_app(service_settings, tracker=local)
        async with TestClient(TestServer(app)) as client:
            yield client
        return
    remote = web.Application()
    remote.router.add_get(f"{JOBS}/{{task_id}}/status", tracker.status_view)
    async with TestServer(remote) as server:
        settings = service_settings.model_copy(update={"job_tracker_url": str(server.make_url(""))})
        async with TestClient(TestServer(create_app(settings))) as client:
            yield client


async def requested(client: Client) -> dict[str, Any]:
    response = await client.post(JOBS)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def published(client: Client) -> list[str]:
    return [entry.type for entry in await SqlOutbox(client.app[store_key]).pending()]


class TestCancel:
    async def test_a_job_not_finished_answers_202_with_its_status_and_its_cancel_is_published(
        self, client: Client, tracker: FakeTracker
    ) -> None:
        tracker.status = "STARTED"
        job = await requested(client)

        response = await client.delete(f"{JOBS}/{job['task_id']}")

        # whether the cancel wins over the render is the worker's to decide: not promised here
        assert response.status == 202
        assert await response.json() == {
            "task_id": job["task_id"],
            "task_status": "STARTED",
            "task_url": job["task_url"],
        }
        assert tracker.asked == [job["task_id"]]
        assert (await published(client))[-2:] == ["CalendarRequested", "CalendarCancelled"]

    async def test_a_second_cancel_answers_the_status_now_and_records_nothing_more(
        self, client: Client, tracker: FakeTracker
    ) -> None:
        job = await requested(client)
        first = await client.delete(f"{JOBS}/{job['task_id']}")
        # the worker has revoked the job, and the tracker folded it, by now
        tracker.status = "REVOKED"

        second = await client.delete(f"{JOBS}/{job['task_id']}")

        assert (first.status, second.status) == (202, 202)
        assert ((await first.json())["task_status"], (await second.json())["task_status"]) == (
            "PENDING",
            "REVOKED",
        )
        assert (await published(client)).count("CalendarCancelled") == 1

    @pytest.mark.parametrize("finished", ["SUCCESS", "FAILURE"])
    async def test_a_finished_job_answers_409_and_stays_as_it_is(
        self, client: Client, tracker: FakeTracker, finished: str
    ) -> None:
        tracker.status = finished
        job = await requested(client)

        response = await client.delete(f"{JOBS}/{job['task_id']}")

        assert await error_of(response, 409) == "Task already finished"
        assert "CalendarCancelled" not in await published(client)


class TestUnknownJobs:
    @pytest.mark.parametrize(
        "task_id", [str(uuid4()), "not-a-uuid", "1"], ids=["made-up", "text", "int"]
    )
    async def test_an_id_never_issued_is_not_found_without_asking_the_tracker(
        self, client: Client, tracker: FakeTracker, task_id: str
    ) -> None:
        response = await client.delete(f"{JOBS}/{task_id}")

        assert await error_of(response, 404) == "Task not found"
        assert tracker.asked == []

    async def test_an_issued_id_this_service_never_requested_is_not_found(
        self, client: Client, tracker: FakeTracker, service_settings: Settings
    ) -> None:
        task_id = issue_task_id(service_settings.task_secret, ANONYMOUS_TENANT)

        response = await client.delete(f"{JOBS}/{task_id}")

        assert await error_of(response, 404) == "Task not found"
        assert tracker.asked == []


async def test_without_a_tracker_a_cancel_answers_503_and_records_nothing(
    service_settings: Settings,
) -> None:
    app = create_app(service_settings.model_copy(update={"job_tracker_url": None}))
    async with TestClient(TestServer(app)) as client:
        job = await requested(client)

        response = await client.delete(f"{JOBS}/{job['task_id']}")

        assert "JOB_TRACKER_URL" in await error_of(response, 503)
        assert "CalendarCancelled" not in await published(client)
