"""One calendar request is one trace: the request in todo_api, the sends to the topic, the
worker's handling and render, and the tracker's handling of both events share its trace id.

The three apps run in this process, as `make run` wires them, so one in-memory exporter sees
every span; each span names its service. Both transports: SNS/SQS on moto, and embedded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from embedded.hosting import service_settings, start_site
from embedded.transport.clients import provision_embedded
from services.calendar_worker.app import create_app as create_worker
from services.job_tracker.app import create_app as create_tracker
from services.todo_api.app import create_app as create_todo_api
from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.polling import eventually
from tests.support.spans import hex_id, service_of

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_SPAN = "00f067aa0ba902b7"
INCOMING = f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-01"


@pytest.fixture
async def base_url(
    broker: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """todo_api, calendar_worker and job_tracker in this process, each on its SQLite file."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    base = Settings(var_dir=var_dir, sqs_wait_time_s=1, transport="embedded")
    if broker == "embedded":
        await provision_embedded(base)
    else:
        base = base.model_copy(
            update={
                "transport": "aws",
                "aws_endpoint_url": request.getfixturevalue("moto_url"),
                "resource_prefix": f"t{uuid.uuid4().hex[:8]}-",
            }
        )
        await bootstrap(base)
    tracker, tracker_port = await start_site(
        create_tracker(service_settings(base, "job_tracker", var_dir, 0)), "127.0.0.1", 0
    )
    worker, _ = await start_site(
        create_worker(service_settings(base, "calendar_worker", var_dir, 0)), "127.0.0.1", 0
    )
    api_settings = service_settings(base, "todo_api", var_dir, 0).model_copy(
        update={"job_tracker_url": f"http://127.0.0.1:{tracker_port}"}
    )
    api, api_port = await start_site(create_todo_api(api_settings), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{api_port}"
    finally:
        for runner in (api, worker, tracker):
            await runner.cleanup()


def one(spans: list[ReadableSpan], service: str, kind: SpanKind, **attributes: str) -> ReadableSpan:
    found = [
        span
        for span in spans
        if service_of(span) == service
        and span.kind is kind
        and all((span.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, [(service_of(s), s.name, s.kind) for s in spans]
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_one_calendar_request_is_one_trace_across_the_three_services(
    base_url: str, http: aiohttp.ClientSession, spans: InMemorySpanExporter
) -> None:
    api = ApiClient(http, base_url)
    await api.create_todo(title="Trace this", deadline_at="2024-04-17T14:00:00")

    async with http.post(
        f"{base_url}/api/v1/todos/ical", headers={"traceparent": INCOMING}
    ) as response:
        assert response.status == 202
        answered = response.headers["traceparent"]
        accepted = await response.json()
    finished = await api.wait_until_finished(accepted["task_url"])
    assert finished["task_status"] == "SUCCESS"

    def in_trace() -> list[ReadableSpan]:
        trace_id = int(INCOMING_TRACE, 16)
        return [span for span in spans.get_finished_spans() if span.context.trace_id == trace_id]

    async def tracker_saw_both() -> bool:
        handled = [s for s in in_trace() if service_of(s) == "job_tracker"]
        return len(handled) == 2

    await eventually(tracker_saw_both, timeout_s=10)
    trace = in_trace()
    assert {service_of(span) for span in trace} == {"todo_api", "calendar_worker", "job_tracker"}

    request = one(trace, "todo_api", SpanKind.SERVER)
    assert request.name == "POST /api/v1/todos/ical"
    assert hex_id(parent_of(request) or 0, 16) == INCOMING_SPAN
    assert answered == f"00-{INCOMING_TRACE}-{hex_id(request.context.span_id, 16)}-01"

    requested = {"taskoverflow.event.type": "CalendarRequested"}
    ready = {"taskoverflow.event.type": "CalendarReady"}
    sent = one(trace, "todo_api", SpanKind.PRODUCER, **requested)
    worker = one(trace, "calendar_worker", SpanKind.CONSUMER, **requested)
    render = one(trace, "calendar_worker", SpanKind.INTERNAL)
    sent_ready = one(trace, "calendar_worker", SpanKind.PRODUCER, **ready)
    tracker_requested = one(trace, "job_tracker", SpanKind.CONSUMER, **requested)
    tracker_ready = one(trace, "job_tracker", SpanKind.CONSUMER, **ready)

    # the event carries the context of the span that made it: the request, then the worker's
    assert parent_of(sent) == parent_of(worker) == parent_of(tracker_requested)
    assert parent_of(worker) == request.context.span_id
    assert render.name == "render calendar"
    assert parent_of(render) == parent_of(sent_ready) == parent_of(tracker_ready)
    assert parent_of(render) == worker.context.span_id
    assert worker.name == "process calendar-worker"
    assert tracker_ready.name == "process job-tracker"
    assert (worker.attributes or {})["taskoverflow.task.id"] == accepted["task_id"]
