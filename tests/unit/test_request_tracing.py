"""Every request is traced: an incoming `traceparent` is continued and the response names its
span, an X-Request-ID is kept or made and sent back, and both reach the request's log lines."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from uuid import uuid4

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.app.resources import service_app
from shared.observability.log_context import ContextFilter
from shared.observability.tracing import bind_job
from shared.settings import Settings
from shared.web.http import not_found
from tests.support.spans import hex_id

Client = TestClient[web.Request, web.Application]
INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_SPAN = "00f067aa0ba902b7"
INCOMING = f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-01"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
TASK = uuid4()
logger = logging.getLogger("tests.request")


async def answer(_request: web.Request) -> web.Response:
    logger.warning("answering")
    return web.json_response({"ok": True})


async def job(_request: web.Request) -> web.Response:
    bind_job(TASK)
    logger.warning("job requested")
    return web.json_response({}, status=202)


async def missing(_request: web.Request) -> web.Response:
    raise not_found("Todo not found")


async def broken(_request: web.Request) -> web.Response:
    raise RuntimeError("bug")


async def streamed(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"part")
    return response


def answered_ids(response: ClientResponse) -> tuple[str, str]:
    """The trace id and span id of the response's `traceparent` (which must be well formed)."""
    found = TRACEPARENT.fullmatch(response.headers["traceparent"])
    assert found is not None, response.headers["traceparent"]
    trace_id, span_id = found.groups()
    return trace_id, span_id


class Lines(logging.Handler):
    """The records this test's logger writes, through the same filter the services use."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    app = service_app(Settings(service_name="todo_api"))
    app.router.add_get("/answer", answer)
    app.router.add_post("/jobs", job)
    app.router.add_get("/todos/{todo_id}", missing)
    app.router.add_get("/broken", broken)
    app.router.add_get("/streamed", streamed)
    app.router.add_get("/ical/{task_id}/status", answer)
    async with TestClient(TestServer(app)) as client:
        yield client


class TestTraceparent:
    async def test_an_incoming_traceparent_is_continued_and_the_response_names_the_new_span(
        self, client: Client, spans: InMemorySpanExporter
    ) -> None:
        response = await client.get("/answer", headers={"traceparent": INCOMING})

        trace_id, span_id = answered_ids(response)
        assert trace_id == INCOMING_TRACE
        [server] = spans.get_finished_spans()
        assert server.parent is not None
        assert hex_id(server.parent.span_id, 16) == INCOMING_SPAN
        assert hex_id(server.context.span_id, 16) == span_id != INCOMING_SPAN
        assert server.kind is SpanKind.SERVER
        assert server.name == "GET /answer"
        assert server.resource.attributes["service.name"] == "todo_api"

    async def test_without_one_the_request_starts_a_trace_of_its_own(
        self, client: Client, spans: InMemorySpanExporter
    ) -> None:
        first = await client.get("/answer")
        second = await client.get("/answer")

        assert answered_ids(first)[0] != answered_ids(second)[0]
        assert all(span.parent is None for span in spans.get_finished_spans())

    async def test_a_malformed_traceparent_is_ignored(self, client: Client) -> None:
        response = await client.get("/answer", headers={"traceparent": "00-nonsense-01"})

        assert response.status == 200
        assert answered_ids(response)[0] != "0" * 32

    async def test_the_trace_context_is_made_and_sent_when_nothing_is_exported(
        self, client: Client
    ) -> None:
        response = await client.get("/answer", headers={"traceparent": INCOMING})

        assert answered_ids(response)[0] == INCOMING_TRACE

    async def test_the_span_is_named_after_the_route_and_records_the_status(
        self, client: Client, spans: InMemorySpanExporter
    ) -> None:
        await client.get("/todos/7")
        await client.get("/broken")

        missing_span, broken_span = spans.get_finished_spans()
        assert missing_span.name == "GET /todos/{todo_id}"
        assert missing_span.attributes is not None
        assert missing_span.attributes["http.response.status_code"] == 404
        assert missing_span.attributes["http.route"] == "/todos/{todo_id}"
        # a client's error is not the server's
        assert missing_span.status.status_code is StatusCode.UNSET
        assert broken_span.status.status_code is StatusCode.ERROR


class TestRequestId:
    async def test_a_given_request_id_is_kept_and_returned(self, client: Client) -> None:
        response = await client.get("/answer", headers={"X-Request-ID": "req-42.abc"})

        assert response.headers["X-Request-ID"] == "req-42.abc"

    async def test_a_missing_one_is_made_fresh_for_each_request(self, client: Client) -> None:
        answer = await client.get("/answer")
        first = answer.headers["X-Request-ID"]
        second = (await client.get("/answer")).headers["X-Request-ID"]

        assert re.fullmatch(r"[0-9a-f]{32}", first)
        assert first != second
        # the request's trace id, random already: one id to search the logs and the traces by
        assert answer.headers["traceparent"].split("-")[1] == first

    @pytest.mark.parametrize("given", ["x" * 200, "has spaces", 'quote"d', ""])
    async def test_one_unfit_for_headers_and_logs_is_replaced(
        self, client: Client, given: str
    ) -> None:
        response = await client.get("/answer", headers={"X-Request-ID": given})

        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])

    @pytest.mark.parametrize(
        ("path", "status"), [("/todos/7", 404), ("/broken", 500), ("/streamed", 200)]
    )
    async def test_errors_and_streamed_responses_carry_both_headers(
        self, client: Client, path: str, status: int
    ) -> None:
        response = await client.get(path, headers={"X-Request-ID": "r1"})

        assert response.status == status
        assert response.headers["X-Request-ID"] == "r1"
        answered_ids(response)


class TestLogLines:
    async def test_the_request_s_lines_carry_its_id_trace_and_service(
        self, client: Client, lines: Lines
    ) -> None:
        response = await client.get("/answer", headers={"X-Request-ID": "r2"})

        [line] = lines.records
        assert line.request_id == "r2"  # type: ignore[attr-defined]
        assert line.trace_id == answered_ids(response)[0]  # type: ignore[attr-defined]
        assert line.service == "todo_api"  # type: ignore[attr-defined]

    async def test_the_lines_of_a_job_request_carry_its_task_and_correlation_id(
        self, client: Client, lines: Lines, spans: InMemorySpanExporter
    ) -> None:
        await client.post("/jobs")

        [line] = lines.records
        assert line.task_id == line.correlation_id == TASK  # type: ignore[attr-defined]
        [server] = spans.get_finished_spans()
        assert server.attributes is not None
        assert server.attributes["taskoverflow.task.id"] == str(TASK)

    async def test_one_request_s_fields_do_not_reach_the_next(
        self, client: Client, lines: Lines
    ) -> None:
        await client.post("/jobs")
        await client.get("/answer")

        assert not hasattr(lines.records[1], "task_id")

    async def test_the_lines_of_a_job_s_own_routes_carry_its_task_id(
        self, client: Client, lines: Lines
    ) -> None:
        await client.get(f"/ical/{TASK}/status")
        await client.get("/ical/not-a-task/status")

        known, unknown = lines.records
        assert known.task_id == known.correlation_id == TASK  # type: ignore[attr-defined]
        assert not hasattr(unknown, "task_id")
