"""todo_api's Tracker port: its two adapters give the same answers (SQLite and PostgreSQL).

One body runs on each: HttpTracker asks a real job tracker over HTTP on loopback (its app on a
test server), InProcessTracker calls the same tracker's views in process, wired as
embedded/run.py wires them. The job routes (a job's event stream too, passed on as it comes)
and a cancel are asked on todo_api's port, the
operations page's figures of the port itself. Either way the tracker's views see the client's
credentials, so the tracker can answer as the client's principal.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from services.edge.app import in_process_tracker
from services.job_tracker import in_flight as tracker_in_flight
from services.job_tracker import views as tracker_views
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.app_keys import tracker_key
from services.todo_api.tables import SCHEMA as TODO_API_SCHEMA
from shared.auth.middleware import principal_key
from shared.auth.principal import ANONYMOUS
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.events import CalendarStarted
from shared.contracts.streams import api_key_stream_id
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.settings import Settings
from tests.support.auth import bearer, issue_key, requiring_credentials
from tests.support.factories import calendar_ready
from tests.support.sse import next_event, rest_of
from tests.support.stores import service_store
from tests.support.tracker_jobs import CALENDAR, Client, Tracker, running_tracker

JOBS = "/api/v1/todos/ical"
OVERVIEW_TIMEOUT_S = 30.0


@dataclass
class Asked:
    """todo_api, asking the job tracker through one adapter, and that tracker."""

    api: Client
    tracker: Tracker

    @property
    def base(self) -> str:
        return str(self.api.make_url(""))

    async def get(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        response = await self.api.get(path, params=params)
        body: dict[str, Any] = await response.json()
        return response.status, body

    async def cancel(self, task_id: UUID) -> tuple[int, dict[str, Any]]:
        response = await self.api.delete(f"{JOBS}/{task_id}")
        body: dict[str, Any] = await response.json()
        return response.status, body

    async def requested(self) -> UUID:
        """A job requested on todo_api (so a cancel finds it in todo_api's own log)."""
        response = await self.api.post(JOBS)
        assert response.status == 202, await response.text()
        return UUID((await response.json())["task_id"])


@contextlib.asynccontextmanager
async def asking(
    settings: Settings, adapter: str, *, api_settings: Settings | None = None
) -> AsyncIterator[Asked]:
    """A job tracker on `settings`, and todo_api (on `api_settings`, or the same settings)
    asking it through `adapter`."""
    api_settings = api_settings or settings
    async with running_tracker(settings, InMemoryBlobStore()) as tracker:
        if adapter == "over HTTP":
            url = str(tracker.client.make_url(""))
            app = create_todo_api(api_settings.model_copy(update={"job_tracker_url": url}))
        else:
            no_url = api_settings.model_copy(update={"job_tracker_url": None})
            app = create_todo_api(no_url, tracker=in_process_tracker(tracker.client.app))
        async with TestClient(TestServer(app)) as api:
            yield Asked(api, tracker)


@pytest.fixture(params=["over HTTP", "in process"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def asked(
    adapter: str, service_settings: Settings, quiet_topology: Settings
) -> AsyncIterator[Asked]:
    # the tracker on a topology of its own: it folds only what the test records, never a job
    # another test's relay published
    quiet = service_settings.model_copy(update={"resource_prefix": quiet_topology.resource_prefix})
    async with asking(quiet, adapter, api_settings=service_settings) as asked:
        yield asked


class TestStatus:
    async def test_a_finished_job_links_its_result_on_the_public_base_url(
        self, asked: Asked
    ) -> None:
        task_id = await asked.tracker.add_job(utcnow())

        status, body = await asked.get(f"{JOBS}/{task_id}/status")

        assert status == 200
        assert body == {
            "task_id": str(task_id),
            "task_status": "SUCCESS",
            "result_url": f"{asked.base}{JOBS}/{task_id}/result",
        }

    async def test_an_issued_job_not_seen_yet_is_pending_and_a_stranger_unknown(
        self, asked: Asked
    ) -> None:
        unseen = issue_task_id(asked.tracker.settings.task_secret, ANONYMOUS_TENANT)

        pending = await asked.get(f"{JOBS}/{unseen}/status")
        unknown = await asked.get(f"{JOBS}/not-a-task/status")

        result_url = f"{asked.base}{JOBS}/{unseen}/result"
        expected = {"task_id": str(unseen), "task_status": "PENDING", "result_url": result_url}
        assert pending == (200, expected)
        assert unknown == (404, {"error": "Task not found"})


class TestResult:
    async def test_the_file_is_streamed_with_its_name(self, asked: Asked) -> None:
        task_id = await asked.tracker.add_job(utcnow())

        response = await asked.api.get(f"{JOBS}/{task_id}/result")

        assert response.status == 200
        assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        disposition = f'attachment; filename="taskoverflow-{task_id}.ics"'
        assert response.headers["Content-Disposition"] == disposition
        assert await response.read() == CALENDAR

    async def test_a_job_not_finished_has_no_result(self, asked: Asked) -> None:
        task_id = await asked.tracker.add_job(utcnow(), "STARTED")

        assert await asked.get(f"{JOBS}/{task_id}/result") == (404, {"error": "Task not finished"})


class TestHistory:
    async def test_pages_newest_first_and_refuses_a_bad_query(self, asked: Asked) -> None:
        now = utcnow()
        older = await asked.tracker.add_job(now.replace(year=now.year - 1))
        newer = await asked.tracker.add_job(now)

        status, first = await asked.get(JOBS, limit="1", state="SUCCESS")
        _, second = await asked.get(JOBS, limit="1", state="SUCCESS", cursor=first["next_cursor"])
        refused, body = await asked.get(JOBS, limit="500")

        assert status == 200
        assert [job["task_id"] for job in first["jobs"]] == [str(newer)]
        assert first["jobs"][0]["result_url"] == f"{asked.base}{JOBS}/{newer}/result"
        assert [job["task_id"] for job in second["jobs"]] == [str(older)]
        assert (refused, body["error"].startswith("limit must be")) == (400, True)


class TestEvents:
    async def test_each_change_is_passed_on_as_it_comes_until_the_job_ends(
        self, asked: Asked
    ) -> None:
        task_id = await asked.tracker.add_job(utcnow(), "PENDING")

        async with asked.api.get(f"{JOBS}/{task_id}/events") as stream:
            kind = stream.headers["Content-Type"]
            first = await next_event(stream)
            await asked.tracker.record(CalendarStarted(task_id=task_id, attempt=1), utcnow())
            second = await next_event(stream)
            await asked.tracker.record(calendar_ready(task_id), utcnow())
            rest = await rest_of(stream)
        again = await asked.api.get(
            f"{JOBS}/{task_id}/events", headers={"Last-Event-ID": rest[-1].id or ""}
        )

        assert kind == "text/event-stream; charset=utf-8"
        assert [first.status, second.status] == ["PENDING", "STARTED"]
        assert [event.body for event in rest] == [
            {
                "task_id": str(task_id),
                "task_status": "SUCCESS",
                "result_url": f"{asked.base}{JOBS}/{task_id}/result",
            }
        ]
        assert again.status == 204

    async def test_an_unknown_job_is_not_found(self, asked: Asked) -> None:
        assert await asked.get(f"{JOBS}/not-a-task/events") == (404, {"error": "Task not found"})


class TestCancel:
    async def test_a_cancel_is_told_the_job_is_pending(self, asked: Asked) -> None:
        task_id = await asked.requested()

        status, body = await asked.cancel(task_id)

        assert (status, body["task_status"]) == (202, "PENDING")

    async def test_a_cancel_of_a_finished_job_is_refused(self, asked: Asked) -> None:
        task_id = await asked.requested()
        await asked.tracker.record(calendar_ready(task_id), utcnow())

        status, body = await asked.cancel(task_id)

        assert (status, body) == (409, {"error": "Task already finished"})


class TestOverview:
    async def test_counts_the_jobs_by_state(self, asked: Asked) -> None:
        succeeded = await asked.tracker.add_job(utcnow())
        failed = await asked.tracker.add_job(utcnow(), "FAILURE")

        ops = make_mocked_request("GET", "/api/v1/ops", app=asked.api.app)
        overview = await asked.api.app[tracker_key].overview(ops, OVERVIEW_TIMEOUT_S)

        assert (overview.by_state["SUCCESS"], overview.by_state["FAILURE"]) == (1, 1)
        recent = {job.task_id: job.task_status for job in overview.recent}
        assert recent == {succeeded: "SUCCESS", failed: "FAILURE"}
        assert [job.task_id for job in overview.failures] == [failed]


class TestInFlight:
    async def test_counts_the_principal_s_tenant_s_jobs_not_yet_finished(
        self, asked: Asked
    ) -> None:
        for outcome in ("PENDING", "STARTED", "SUCCESS", "FAILURE"):
            await asked.tracker.add_job(utcnow(), outcome)
        await asked.tracker.add_job(utcnow(), "PENDING", tenant="globex")

        request = make_mocked_request("POST", JOBS, app=asked.api.app)
        request[principal_key] = ANONYMOUS
        in_flight = await asked.api.app[tracker_key].in_flight(request)

        assert in_flight == 2


TrackerView = Callable[[web.Application, web.Request], Awaitable[web.StreamResponse]]


def noting_credentials(view: TrackerView, seen: list[str | None]) -> TrackerView:
    """`view`, noting the Authorization header of each request it answers."""

    async def noted(app: web.Application, request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization"))
        return await view(app, request)

    return noted


class TestCredentials:
    async def test_the_tracker_s_views_see_the_client_s_credentials(
        self, adapter: str, service_settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: list[str | None] = []
        for name in ("job_status", "job_result", "job_history"):
            noted = noting_credentials(getattr(tracker_views, name), seen)
            monkeypatch.setattr(tracker_views, name, noted)
        counted = noting_credentials(tracker_in_flight.jobs_in_flight, seen)
        monkeypatch.setattr(tracker_in_flight, "jobs_in_flight", counted)
        api_settings = requiring_credentials(service_settings)

        async with asking(service_settings, adapter, api_settings=api_settings) as asked:
            headers = bearer(await issue_key(api_settings))
            # the cap in force (AUTH_MODE=required) asks the tracker the jobs in flight first
            response = await asked.api.post(JOBS, headers=headers)
            task_id = (await response.json())["task_id"]
            # the tracker's answers are its own business here: only who it is told asks
            for path in (f"{JOBS}/{task_id}/status", f"{JOBS}/{task_id}/result", JOBS):
                await asked.api.get(path, headers=headers)
            # a cancel asks the tracker the job's status
            await asked.api.delete(f"{JOBS}/{task_id}", headers=headers)

        assert response.status == 202
        assert seen == [headers["Authorization"]] * 5

    async def test_the_operations_page_asks_for_the_jobs_figures_as_its_operator(
        self, adapter: str, service_settings: Settings
    ) -> None:
        required = requiring_credentials(service_settings)

        async with asking(required, adapter) as asked:
            await asked.tracker.add_job(utcnow())
            key = await issue_key(required, roles=["operator"], tenant="operations")
            # the key reaches the tracker as todo_api's published ApiKeyIssued would bring it
            async with service_store(required, TODO_API_SCHEMA) as todo_store:
                (issued,) = await todo_store.load(api_key_stream_id(key.key_id))
            await asked.tracker.deliver_key_event(issued)
            response = await asked.api.get("/api/v1/ops", headers=bearer(key))
            report = await response.json()

        assert response.status == 200
        assert report["jobs_error"] is None
        assert report["jobs"]["by_state"]["SUCCESS"] == 1
