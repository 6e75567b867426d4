"""GET /api/v1/ops on todo_api, with the job tracker and the calendar worker serving on their own
ports (SQLite each, SNS/SQS/S3 on moto): every part is there when all is well, and a service that
is away, silent or not ready makes its own line say so while the answer stays 200."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import OperationalError

from services.calendar_worker.app import create_app as create_worker
from services.job_tracker import views as tracker_views
from services.job_tracker.app import create_app as create_tracker
from services.job_tracker.in_flight import jobs_in_flight
from services.job_tracker.job_events import job_events
from services.job_tracker.jobs import Status
from services.job_tracker.ops_views import overview_of
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.in_process_tracker import InProcessTracker
from shared.app import readiness
from shared.app.app_keys import metrics_url_key
from shared.aws.clients import aws_client
from shared.contracts.ops_report import JobsOverview
from shared.contracts.topology import JOB_TRACKER, QUEUES, Names
from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.polling import eventually

Client = TestClient[web.Request, web.Application]
OPS = "/api/v1/ops"
JOB_WAIT_S = 30
# how long beyond its own timeouts a probed part may take to answer on a stalled host
STALLED_HOST_MARGIN_S = 8.0
# a report with a silent service comes back this soon: far below the client's read timeout (30 s)
GIVEN_UP_WITHIN_S = 10.0
# the readiness checks' own timeout (CHECK_TIMEOUT_S), for the test that waits for it to give up
PRODUCT_CHECK_TIMEOUT_S = readiness.CHECK_TIMEOUT_S
# parts that must answer get timeouts no host stall outlasts; the page's outlasts the checks'
PATIENT_CHECK_TIMEOUT_S = 15.0
PATIENT_PROBE_TIMEOUT_MS = 20_000
# metrics_port 0: each app's metrics listener on a port the OS picks
BASE_CHANGES = {
    "sqs_wait_time_s": 1,
    "metrics_port": 0,
    "ops_probe_timeout_ms": PATIENT_PROBE_TIMEOUT_MS,
}


@pytest.fixture(autouse=True)
def patient_readiness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "CHECK_TIMEOUT_S", PATIENT_CHECK_TIMEOUT_S)


@pytest.fixture
def base(module_topology: Settings, tmp_path: Path) -> Settings:
    return module_topology.model_copy(update={**BASE_CHANGES, "var_dir": tmp_path})


@dataclass(frozen=True)
class Served:
    url: str
    metrics_url: str


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def tracker(base: Settings) -> AsyncIterator[Served]:
    app = create_tracker(base.with_embedded_database("job_tracker"))
    async with serving(app) as url:
        yield Served(url, app[metrics_url_key])


@pytest.fixture
async def worker(base: Settings) -> AsyncIterator[Served]:
    app = create_worker(base.with_embedded_database("calendar_worker"))
    async with serving(app) as url:
        yield Served(url, app[metrics_url_key])


@pytest.fixture
def tracker_url(tracker: Served) -> str:
    return tracker.url


@pytest.fixture
def worker_url(worker: Served) -> str:
    return worker.url


@contextlib.asynccontextmanager
async def todo_api(base: Settings, **changes: Any) -> AsyncIterator[Client]:
    tracker = changes.pop("tracker", None)
    middlewares = changes.pop("middlewares", [])
    settings = base.with_embedded_database("todo_api").model_copy(update=changes)
    app = create_todo_api(settings, tracker=tracker)
    # innermost: a test's hook sees the request just before the view does
    app.middlewares.extend(middlewares)
    async with TestClient(TestServer(app)) as client:
        yield client


async def ops(client: Client) -> dict[str, Any]:
    response = await client.get(OPS)
    assert response.status == 200, await response.text()
    report: dict[str, Any] = await response.json()
    return report


def services(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["service"]: line for line in report["services"]}


def queues(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["queue"]: line for line in report["queues"]}


def closed_url() -> str:
    """A loopback address nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in held:
            writer.close()
        server.close()


View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answering(routes: dict[str, View]) -> web.Application:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    return app


class TestAllUp:
    async def test_every_service_is_ready_and_every_queue_and_dlq_is_listed(
        self, base: Settings, tracker_url: str, worker_url: str
    ) -> None:
        async with todo_api(
            base, job_tracker_url=tracker_url, calendar_worker_url=worker_url
        ) as client:
            report = await ops(client)

        lines = services(report)
        assert list(lines) == ["todo_api", "job_tracker", "calendar_worker"]
        for line in lines.values():
            assert line["status"] == "ready", line
            assert line["checks"] == {"database": "ok", "broker": "ok"}
        names = Names(base.resource_prefix)
        expected = [name for spec in QUEUES for name in (names.queue(spec), names.dlq(spec))]
        assert [line["queue"] for line in report["queues"]] == expected
        assert [line["dead_letter"] for line in report["queues"]] == [False, True] * len(QUEUES)
        for line in report["queues"]:
            assert isinstance(line["visible"], int)
            assert isinstance(line["in_flight"], int)
        assert report["jobs_error"] is None
        assert set(report["jobs"]["by_state"]) == {status.value for status in Status}

    async def test_the_backlog_of_a_service_with_an_outbox_is_read_from_its_metrics(
        self, base: Settings, tracker: Served, worker: Served
    ) -> None:
        async with todo_api(
            base,
            job_tracker_url=tracker.url,
            calendar_worker_url=worker.url,
            job_tracker_metrics_url=tracker.metrics_url,
            calendar_worker_metrics_url=worker.metrics_url,
        ) as client:
            lines = services(await ops(client))

        assert lines["todo_api"]["outbox_backlog"] == 0
        assert lines["calendar_worker"]["outbox_backlog"] == 0
        # the tracker only consumes: no outbox
        assert lines["job_tracker"]["outbox_backlog"] is None


class TestAJobAndADeadLetter:
    @pytest.fixture
    async def base(self, aws_settings: Settings, tmp_path: Path) -> Settings:
        # queues of their own: a receive cut short when another test's consumer stopped may
        # still take a message on the module's queues, hiding it for a visibility timeout
        await bootstrap(aws_settings)
        return aws_settings.model_copy(update={**BASE_CHANGES, "var_dir": tmp_path})

    async def test_a_finished_job_and_a_planted_dead_letter_show(
        self, base: Settings, tracker_url: str, worker_url: str
    ) -> None:
        dlq = Names(base.resource_prefix).dlq(JOB_TRACKER)
        async with todo_api(
            base, job_tracker_url=tracker_url, calendar_worker_url=worker_url
        ) as client:
            accepted = await (await client.post("/api/v1/todos/ical")).json()
            task_id = accepted["task_id"]

            async def finished() -> bool:
                status = await client.get(f"/api/v1/todos/ical/{task_id}/status")
                return bool((await status.json())["task_status"] == "SUCCESS")

            await eventually(finished, JOB_WAIT_S)
            async with aws_client(base, "sqs") as sqs:
                url = (await sqs.get_queue_url(QueueName=dlq))["QueueUrl"]
                await sqs.send_message(QueueUrl=url, MessageBody="not an event")
            report = await ops(client)

        recent = {job["task_id"]: job for job in report["jobs"]["recent"]}
        assert recent[task_id]["task_status"] == "SUCCESS"
        assert report["jobs"]["by_state"]["SUCCESS"] >= 1
        throughput = report["jobs"]["throughput"]
        assert sum(bucket["succeeded"] for bucket in throughput[-2:]) >= 1
        assert queues(report)[dlq]["visible"] == 1


class TestAServiceAway:
    async def test_a_worker_nobody_answers_for_shows_as_not_ready(
        self, base: Settings, tracker_url: str
    ) -> None:
        async with todo_api(
            base, job_tracker_url=tracker_url, calendar_worker_url=closed_url()
        ) as client:
            report = await ops(client)

        lines = services(report)
        assert lines["calendar_worker"]["status"] == "not ready"
        assert lines["calendar_worker"]["error"].startswith("unreachable")
        assert lines["calendar_worker"]["outbox_backlog"] is None
        assert lines["todo_api"]["status"] == lines["job_tracker"]["status"] == "ready"
        assert report["jobs"] is not None

    async def test_without_the_tracker_the_jobs_are_unknown_and_the_rest_still_answers(
        self, base: Settings, worker_url: str
    ) -> None:
        async with todo_api(
            base, job_tracker_url=closed_url(), calendar_worker_url=worker_url
        ) as client:
            report = await ops(client)

        assert report["jobs"] is None
        assert report["jobs_error"].startswith("job tracker unreachable")
        assert services(report)["job_tracker"]["status"] == "not ready"
        assert services(report)["calendar_worker"]["status"] == "ready"
        assert all(line["error"] is None for line in report["queues"])

    async def test_a_service_that_never_answers_is_given_up_on_after_the_probe_timeout(
        self, base: Settings, tracker_url: str
    ) -> None:
        async with (
            silent_server() as silent,
            todo_api(
                base,
                job_tracker_url=tracker_url,
                calendar_worker_url=silent,
                ops_probe_timeout_ms=300,
            ) as client,
        ):
            started = time.monotonic()
            report = await ops(client)
            took_s = time.monotonic() - started

        worker = services(report)["calendar_worker"]
        assert worker["status"] == "not ready"
        assert worker["error"] == "unreachable: no answer within 0.3 s"
        # given up on at the probe's timeout, not the HTTP client's read timeout (30 s); the bound
        # is wide because a stalled host once held everything in this test for 3.9 s
        assert took_s < GIVEN_UP_WITHIN_S

    async def test_a_service_that_is_not_ready_passes_its_reason_and_checks_on(
        self, base: Settings, tracker_url: str
    ) -> None:
        async def not_ready(_request: web.Request) -> web.Response:
            checks = {"database": "unreachable", "broker": "ok"}
            body = {"error": "Not ready: database unavailable", "checks": checks}
            return web.json_response(body, status=503)

        async with (
            serving(answering({"/api/v1/ready": not_ready})) as worker,
            todo_api(base, job_tracker_url=tracker_url, calendar_worker_url=worker) as client,
        ):
            report = await ops(client)

        assert services(report)["calendar_worker"] == {
            "service": "calendar_worker",
            "status": "not ready",
            "checks": {"database": "unreachable", "broker": "ok"},
            "outbox_backlog": None,
            "error": "Not ready: database unavailable",
        }

    async def test_services_without_an_address_are_unknown(self, base: Settings) -> None:
        async with todo_api(base, job_tracker_url=None, calendar_worker_url=None) as client:
            report = await ops(client)

        lines = services(report)
        assert lines["job_tracker"]["status"] == lines["calendar_worker"]["status"] == "unknown"
        assert lines["job_tracker"]["error"] == "JOB_TRACKER_URL is not set"
        assert lines["calendar_worker"]["error"] == "CALENDAR_WORKER_URL is not set"
        assert report["jobs_error"] == "JOB_TRACKER_URL is not set"
        assert lines["todo_api"]["status"] == "ready"

    async def test_with_the_broker_away_the_queues_are_unknown_and_todo_api_not_ready(
        self, base: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # todo_api's own readiness answers once its broker check has given up (CHECK_TIMEOUT_S):
        # the page waits for it with room for a stalled host, not the default's one second more
        monkeypatch.setattr(readiness, "CHECK_TIMEOUT_S", PRODUCT_CHECK_TIMEOUT_S)
        probe_ms = int((PRODUCT_CHECK_TIMEOUT_S + STALLED_HOST_MARGIN_S) * 1000)
        async with todo_api(
            base, aws_endpoint_url=closed_url(), ops_probe_timeout_ms=probe_ms
        ) as client:
            report = await ops(client)

        for line in report["queues"]:
            assert (line["visible"], line["in_flight"]) == (None, None)
            assert line["error"]
        todo = services(report)["todo_api"]
        assert todo["status"] == "not ready"
        assert todo["checks"]["database"] == "ok"
        assert todo["checks"]["broker"] != "ok"


class TestPublicReasons:
    """The page says what failed in a few words; hosts, addresses and exception text go to the
    log only."""

    async def test_refused_connections_put_no_address_or_exception_text_in_the_report(
        self, base: Settings
    ) -> None:
        tracker, worker = closed_url(), closed_url()
        async with todo_api(base, job_tracker_url=tracker, calendar_worker_url=worker) as client:
            response = await client.get(OPS)
            text = await response.text()

        lines = services(json.loads(text))
        assert lines["calendar_worker"]["error"] == "unreachable: connection refused"
        assert lines["job_tracker"]["error"] == "unreachable: connection refused"
        assert json.loads(text)["jobs_error"] == "job tracker unreachable: connection refused"
        for leak in ("127.0.0.1", tracker, worker, "Error", "Errno", "Connect call", "ssl:"):
            assert leak not in text, leak

    async def test_a_failing_local_tracker_names_its_database_not_the_detail(
        self, base: Settings
    ) -> None:
        async def unanswered(_request: web.Request) -> web.Response:
            raise AssertionError("not asked")

        async def database_away() -> JobsOverview:
            cause = OSError("connect to db.internal (10.0.3.7:5432) failed")
            raise OperationalError("SELECT count(*)", {}, cause)

        local = InProcessTracker(
            status_view=unanswered,
            result_view=unanswered,
            events_view=unanswered,
            history_view=unanswered,
            in_flight_view=unanswered,
            overview_of=database_away,
        )
        async with todo_api(base, tracker=local) as client:
            report = await ops(client)

        assert report["jobs_error"] == "database: unreachable"


class TestOneComputationForAllViewers:
    async def test_viewers_asking_at_once_share_one_round_of_probes(
        self, base: Settings, tracker_url: str
    ) -> None:
        viewers = 5
        all_arrived = asyncio.Event()
        arrived = 0
        probed = 0

        @web.middleware
        async def count_viewers(request: web.Request, handler: View) -> web.StreamResponse:
            nonlocal arrived
            if request.path == OPS:
                arrived += 1
                if arrived == viewers:
                    all_arrived.set()
            return await handler(request)

        async def held_readiness(_request: web.Request) -> web.Response:
            # the first round of probes waits until every viewer has asked
            nonlocal probed
            probed += 1
            await asyncio.wait_for(all_arrived.wait(), JOB_WAIT_S)
            return web.json_response({"status": "ready", "checks": {"database": "ok"}})

        async with (
            serving(answering({"/api/v1/ready": held_readiness})) as worker,
            todo_api(
                base,
                job_tracker_url=tracker_url,
                calendar_worker_url=worker,
                ops_probe_timeout_ms=JOB_WAIT_S * 1000,
                middlewares=[count_viewers],
            ) as client,
        ):
            reports = await asyncio.gather(*(ops(client) for _ in range(viewers)))

        assert probed == 1
        assert all(report == reports[0] for report in reports)
        assert services(reports[0])["calendar_worker"]["status"] == "ready"


class TestJobsInProcess:
    async def test_a_local_tracker_gives_the_jobs_without_a_tracker_address(
        self, base: Settings
    ) -> None:
        tracker = create_tracker(base.with_embedded_database("job_tracker"))
        local = InProcessTracker(
            status_view=functools.partial(tracker_views.job_status, tracker),
            result_view=functools.partial(tracker_views.job_result, tracker),
            events_view=functools.partial(job_events, tracker),
            history_view=functools.partial(tracker_views.job_history, tracker),
            in_flight_view=functools.partial(jobs_in_flight, tracker),
            overview_of=functools.partial(overview_of, tracker),
        )
        async with (
            serving(tracker),
            todo_api(base, job_tracker_url=None, tracker=local) as client,
        ):
            report = await ops(client)

        assert report["jobs_error"] is None
        assert report["jobs"]["by_state"]["SUCCESS"] == 0

    async def test_a_local_tracker_that_fails_leaves_the_jobs_unknown(self, base: Settings) -> None:
        async def unanswered(_request: web.Request) -> web.Response:
            raise AssertionError("not asked")

        async def database_away() -> JobsOverview:
            raise ConnectionRefusedError("database away")

        local = InProcessTracker(
            status_view=unanswered,
            result_view=unanswered,
            events_view=unanswered,
            history_view=unanswered,
            in_flight_view=unanswered,
            overview_of=database_away,
        )
        async with todo_api(base, tracker=local) as client:
            report = await ops(client)

        assert report["jobs"] is None
        assert report["jobs_error"] == "database: connection refused"


class TestTheRoutes:
    async def test_the_page_is_served_with_its_script(self, base: Settings) -> None:
        async with todo_api(base) as client:
            response = await client.get("/ops")
            script = await client.get("/static/ops.js")

            assert response.status == 200
            assert response.content_type == "text/html"
            assert '<script type="module" src="/static/ops.js">' in await response.text()
            assert script.status == 200

    async def test_both_are_in_the_openapi_document(self, base: Settings) -> None:
        async with todo_api(base) as client:
            document = await (await client.get("/api/v1/openapi.json")).json()

        report = document["paths"][OPS]["get"]["responses"]["200"]
        assert report["content"]["application/json"]["schema"]["$ref"].endswith("/OpsReport")
        assert "get" in document["paths"]["/ops"]

    async def test_other_methods_are_refused_in_json(self, base: Settings) -> None:
        async with todo_api(base) as client:
            response = await client.post(OPS, json={})

            assert response.status == 405
            assert await response.json() == {"error": "Method not allowed"}
