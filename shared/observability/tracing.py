"""Traces across the services: one calendar request is one trace, from todo_api to the tracker.

Spans: the HTTP request (server, `request_tracing`), each event's send to the topic (producer,
`sending`), the handling of each message (consumer, `consuming`, a child of the span that made its
event) and steps inside them such as the render (`span`). The trace context travels in the envelope
(`traceparent`, shared/contracts/envelope.py), stored with the event, so the outbox relay, which
publishes later in another task, sends it on, and a republished event still names its trace.

The span of each request and message is always made, so trace ids travel and reach the logs
and responses; spans are recorded only while an exporter takes them (TRACES_EXPORTER=console or
otlp). Otherwise a request's or message's span is just its ids, a few microseconds, and the
spans of sends and inner steps are not made at all.
"""

from __future__ import annotations

import atexit
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol
from uuid import UUID

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from shared.contracts.envelope import Envelope, stored_traceparent
from shared.contracts.events import calendar_task_id
from shared.contracts.task_ids import parse_task_id
from shared.contracts.trace_context import TRACEPARENT, format_traceparent, parent_context
from shared.observability import log_context
from shared.observability.redaction import redact_path
from shared.settings import DEFAULT_SERVICE_NAME, Settings
from shared.web.http import Handler

REQUEST_ID = "X-Request-ID"
# a client's request id is kept if it is this tame (it goes into headers and log lines)
_USABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
_RESPONSE_HEADERS = web.RequestKey("trace_response_headers", dict[str, str])
_IDS = RandomIdGenerator()
Attributes = Mapping[str, AttributeValue]


class _Exporters(SynchronousMultiSpanProcessor):
    """The span processors every service's tracer provider shares."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def clear(self) -> None:
        with self._lock:
            processors, self._span_processors = self._span_processors, ()
        for processor in processors:
            processor.shutdown()


class _Tracing:
    def __init__(self) -> None:
        self.exporters = _Exporters()
        self.exporting = False
        self.tracers: dict[str, trace.Tracer] = {}
        # the service of spans made outside any request or message (set at start)
        self.default_service = DEFAULT_SERVICE_NAME


_TRACING = _Tracing()
# the tracer of the service handling the request or message at hand
_ENTERED: ContextVar[trace.Tracer] = ContextVar("traced_service")


def tracer(service: str) -> trace.Tracer:
    """The tracer of one service: its spans name it (`service.name`), also when several services
    share a process (`make run`)."""
    found = _TRACING.tracers.get(service)
    if found is None:
        provider = TracerProvider(
            # a caller's decision not to sample is kept
            sampler=ParentBased(ALWAYS_ON),
            resource=Resource.create({"service.name": service}),
            active_span_processor=_TRACING.exporters,
            shutdown_on_exit=False,
        )
        found = _TRACING.tracers[service] = provider.get_tracer(__name__)
    return found


def configure_tracing(settings: Settings) -> None:
    """Export spans as TRACES_EXPORTER says; what is pending is sent when the process exits."""
    _TRACING.default_service = settings.service_name
    exporter = _exporter(settings)
    if exporter is not None:
        export_spans(exporter)
        atexit.register(stop_exporting)


def _exporter(settings: Settings) -> SpanExporter | None:
    if settings.traces_exporter == "console":
        # the stdout of now (the exporter's default is the one at its import)
        return ConsoleSpanExporter(out=sys.stdout)
    if settings.traces_exporter == "otlp":
        # imported only when asked for: it brings protobuf and an HTTP client
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = settings.otel_exporter_otlp_endpoint
        return OTLPSpanExporter(endpoint=f"{base.rstrip('/')}/v1/traces" if base else None)
    return None


def export_spans(exporter: SpanExporter, *, batched: bool = True) -> None:
    """Record spans from now on and hand them to `exporter` (in batches, off the loop, unless
    `batched` is False: then each as it ends, which tests use)."""
    processor = BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter)
    _TRACING.exporters.add_span_processor(processor)
    _TRACING.exporting = True


def stop_exporting() -> None:
    """Send what is pending, drop every exporter, and record no more spans."""
    _TRACING.exporting = False
    _TRACING.exporters.clear()


def exporting() -> bool:
    return _TRACING.exporting


class _Handling:
    """Inside: `span` (a request's or a message's) is the current span, and spans made inside
    belong to its service. Its end on exit. A class, not a generator: it runs for every request."""

    __slots__ = ("_span", "_tokens", "_tracer")

    def __init__(self, service_tracer: trace.Tracer, span: Span) -> None:
        self._tracer = service_tracer
        self._span = span

    def __enter__(self) -> Span:
        context = context_api.attach(trace.set_span_in_context(self._span))
        self._tokens = (context, _ENTERED.set(self._tracer))
        return self._span

    def __exit__(self, *_exc: object) -> None:
        context, entered = self._tokens
        _ENTERED.reset(entered)
        context_api.detach(context)
        self._span.end()


def _start_span(
    service_tracer: trace.Tracer, name: str, parent: Context | None, kind: SpanKind
) -> Span:
    """A request's or message's span: recorded while exporting; otherwise only its ids, which
    continue the parent's trace (what the SDK makes of an unsampled span, for less)."""
    if _TRACING.exporting:
        return service_tracer.start_span(
            name,
            context=parent,
            kind=kind,
            record_exception=False,
            set_status_on_exception=False,
        )
    parent_span = trace.get_current_span(parent).get_span_context()
    trace_id = parent_span.trace_id if parent_span.is_valid else _IDS.generate_trace_id()
    return NonRecordingSpan(SpanContext(trace_id, _IDS.generate_span_id(), is_remote=False))


def _trace_id(span: Span) -> str:
    return f"{span.get_span_context().trace_id:032x}"


@contextmanager
def span(name: str, attributes: Attributes | None = None) -> Iterator[Span]:
    """A step inside the request or message at hand, as a child span of it (while exporting:
    otherwise nobody would see it, and the step stays in the span at hand)."""
    if not _TRACING.exporting:
        yield trace.get_current_span()
        return
    service_tracer = _ENTERED.get(None) or tracer(_TRACING.default_service)
    with service_tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def bind_job(task_id: UUID) -> None:
    """The request at hand is about this calendar job: its log lines and its span say so (a
    calendar job's correlation id is its task id)."""
    log_context.bind(task_id=task_id, correlation_id=task_id)
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("taskoverflow.task.id", str(task_id))


def record_failure(error: BaseException) -> None:
    """Mark the span at hand as failed by `error`."""
    current = trace.get_current_span()
    if current.is_recording():
        current.record_exception(error)
        current.set_status(Status(StatusCode.ERROR, repr(error)))


def request_tracing(service: str) -> Middleware:
    """The server span of each request, continuing an incoming `traceparent`, and its request id
    (X-Request-ID, the client's or a new one); both go on its log lines and its response."""
    service_tracer = tracer(service)

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        parent = parent_context(request.headers.get(TRACEPARENT), request.headers.get("tracestate"))
        server_span = _start_span(service_tracer, _span_name(request), parent, SpanKind.SERVER)
        trace_id = _trace_id(server_span)
        request_id = _request_id(request.headers.get(REQUEST_ID), trace_id)
        log_context.bind(service=service, request_id=request_id, trace_id=trace_id)
        _bind_job_of_route(request)
        traceparent = format_traceparent(server_span.get_span_context())
        request[_RESPONSE_HEADERS] = {REQUEST_ID: request_id, TRACEPARENT: traceparent}
        status: int | None = None
        with _Handling(service_tracer, server_span):
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                _answered(server_span, request, status)

    return traced


async def send_trace_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (on_response_prepare, so streamed ones too): X-Request-ID and the
    `traceparent` of the request's server span."""
    headers = request.get(_RESPONSE_HEADERS)
    if headers is not None:
        response.headers.update(headers)


def _bind_job_of_route(request: web.Request) -> None:
    """A job's own routes (`.../ical/{task_id}/status`) are about that job."""
    given = request.match_info.get("task_id")
    task_id = parse_task_id(given) if given is not None else None
    if task_id is not None:
        bind_job(task_id)


def _request_id(given: str | None, trace_id: str) -> str:
    """The client's id if it is tame; else the trace id, random already (no second draw)."""
    if given is not None and _USABLE_REQUEST_ID.fullmatch(given):
        return given
    return trace_id


def _span_name(request: web.Request) -> str:
    # the route's template, not the path: one name for every task id
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else None
    return f"{request.method} {route}" if route else request.method


def _answered(server_span: Span, request: web.Request, status: int | None) -> None:
    if status is None or not server_span.is_recording():
        return
    resource = request.match_info.route.resource
    server_span.set_attributes(
        {
            "http.request.method": request.method,
            # a feed URL's secret is a credential: never in a trace
            "url.path": redact_path(request.path),
            "http.response.status_code": status,
            "http.request.header.x-request-id": (request[_RESPONSE_HEADERS][REQUEST_ID],),
        }
    )
    if resource is not None:
        server_span.set_attribute("http.route", resource.canonical)
    if status >= 500:
        server_span.set_status(Status(StatusCode.ERROR))


def consuming(service: str, queue: str, envelope: Envelope, message_id: str) -> _Handling:
    """The consumer span of one message, a child of the span that made its event; the lines
    logged inside say which event (and job) it is."""
    service_tracer = tracer(service)
    parent = parent_context(envelope.traceparent)
    consumer_span = _start_span(service_tracer, f"process {queue}", parent, SpanKind.CONSUMER)
    task_id = calendar_task_id(envelope.data)
    log_context.bind(
        service=service,
        trace_id=_trace_id(consumer_span),
        event_id=envelope.event_id,
        event_type=envelope.type,
        task_id=task_id,
        correlation_id=envelope.correlation_id,
    )
    if consumer_span.is_recording():
        consumer_span.set_attributes(_event_attributes(envelope, queue, message_id, task_id))
    return _Handling(service_tracer, consumer_span)


def _event_attributes(
    envelope: Envelope, queue: str, message_id: str, task_id: UUID | None
) -> Attributes:
    found: dict[str, AttributeValue] = {
        "messaging.operation.type": "process",
        "messaging.destination.name": queue,
        "messaging.message.id": message_id,
        "taskoverflow.event.id": str(envelope.event_id),
        "taskoverflow.event.type": envelope.type,
    }
    if envelope.correlation_id is not None:
        found["messaging.message.conversation_id"] = str(envelope.correlation_id)
    if task_id is not None:
        found["taskoverflow.task.id"] = str(task_id)
    return found


class Sent(Protocol):
    """What `sending` needs of an outgoing message (shared/messaging/publisher.py's Outgoing)."""

    @property
    def position(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def body(self) -> str: ...


class SendSpans:
    """One producer span per message of a publish request, each in its own event's trace."""

    def __init__(self, service: str, topic: str, batch: Sequence[Sent]) -> None:
        service_tracer = tracer(service)
        self._spans = {
            message.position: service_tracer.start_span(
                f"send {topic}",
                context=parent_context(stored_traceparent(message.body)),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.operation.type": "send",
                    "messaging.destination.name": topic,
                    "messaging.batch.message_count": len(batch),
                    "taskoverflow.event.type": message.type,
                },
                record_exception=False,
                set_status_on_exception=False,
            )
            for message in batch
        }

    def refused(self, refused: Mapping[int, str]) -> None:
        for position, reason in refused.items():
            self._spans[position].set_status(Status(StatusCode.ERROR, reason))

    def failed(self, error: BaseException) -> None:
        for producer_span in self._spans.values():
            producer_span.record_exception(error)
            producer_span.set_status(Status(StatusCode.ERROR, repr(error)))

    def end(self) -> None:
        for producer_span in self._spans.values():
            producer_span.end()


@contextmanager
def sending(service: str, topic: str, batch: Sequence[Sent]) -> Iterator[SendSpans | None]:
    """Producer spans around one publish request, only while exporting: a span nobody records
    would only cost the read of each body's trace context."""
    if not exporting():
        yield None
        return
    spans = SendSpans(service, topic, batch)
    try:
        yield spans
    except BaseException as exc:
        spans.failed(exc)
        raise
    finally:
        spans.end()
