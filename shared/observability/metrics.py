"""A service's metrics, served as Prometheus text at GET /metrics from a registry of the app's own.

`make run` runs the three services in one process and the tests build many apps, so nothing here
uses prometheus_client's global registry. Every label is bounded: route templates, never paths;
consumer, AWS service and operation names; job states. A group of metrics is registered when the
service first uses it, so each service shows only what it does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.deadline import Deadline
from shared.web.http import CLIENT_CLOSED as CLIENT_CLOSED_STATUS
from shared.web.http import Handler, cut_off_by

logger = logging.getLogger(__name__)

# the route label of a request no route matched (404, 405): one value, whatever the path
UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# a request whose client went away before it was answered in full (nginx's convention)
CLIENT_CLOSED = str(CLIENT_CLOSED_STATUS)
# a read of the database at scrape time that takes longer is left out of that scrape
SCRAPE_READ_TIMEOUT_S = 2.0
# a relay's batch, an AWS call (receives long-poll up to 20 s), a message's handler
CALL_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30)
HANDLER_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# how long a message sat in its queue: milliseconds normally, up to hours through an outage
AGE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
JOB_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

# what a read at scrape time returns: label values -> sample value
Samples = dict[tuple[str, ...], float]


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["route", "method", "status"]
        self.requests = Counter(
            "http_requests", "HTTP requests answered, by route template", labels, registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["route", "method"],
            registry=registry,
        )
        self.cut_off = Counter(
            "http_responses_cut_off",
            "Responses begun (status and headers sent) that the server could not finish: their "
            "connection was closed mid-body",
            ["route", "method"],
            registry=registry,
        )

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        self.requests.labels(route, method, status).inc()
        self.duration.labels(route, method).observe(seconds)


class ConsumerFamilies:
    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, documentation: str) -> Counter:
            return Counter(name, documentation, ["consumer"], registry=registry)

        self.received = counter("consumer_messages_received", "SQS messages received")
        self.handled = counter("consumer_messages_handled", "Messages handled and deleted")
        self.failed = counter(
            "consumer_messages_failed", "Handler failures and unreadable messages, each receive"
        )
        self.dead_lettered = counter(
            "consumer_messages_dead_lettered",
            "Messages failing on their last allowed receive: the redrive policy moves them to "
            "the DLQ",
        )
        self.duration = Histogram(
            "consumer_handler_duration_seconds",
            "Time of one handler call",
            ["consumer"],
            registry=registry,
            buckets=HANDLER_BUCKETS_S,
        )
        self.in_flight = Gauge(
            "consumer_messages_in_flight", "Messages being handled", ["consumer"], registry=registry
        )
        self.age = Histogram(
            "consumer_message_age_seconds",
            "Time from SQS accepting a message (SentTimestamp) to this receive of it",
            ["consumer"],
            registry=registry,
            buckets=AGE_BUCKETS_S,
        )


class ConsumerMetrics:
    """One consumer's series, labelled with its name (the queue's consumer)."""

    def __init__(self, families: ConsumerFamilies, name: str) -> None:
        self.received = families.received.labels(name)
        self.handled = families.handled.labels(name)
        self.failed = families.failed.labels(name)
        self.dead_lettered = families.dead_lettered.labels(name)
        self.duration = families.duration.labels(name)
        self.in_flight = families.in_flight.labels(name)
        self.age = families.age.labels(name)

    def received_message(self, sent_timestamp_ms: str | None) -> None:
        self.received.inc()
        if sent_timestamp_ms is not None and sent_timestamp_ms.isdigit():
            self.age.observe(max(0.0, time.time() - int(sent_timestamp_ms) / 1000))

    def failure(self, *, last_attempt: bool) -> None:
        self.failed.inc()
        if last_attempt:
            self.dead_lettered.inc()


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "relay_events_published", "Outbox events the topic accepted", registry=registry
        )
        self.failures = Counter(
            "relay_publish_failures",
            "Reads or publishes of the outbox that failed (the relay backs off and tries again)",
            registry=registry,
        )
        self.publish_duration = Histogram(
            "relay_publish_duration_seconds",
            "Time to publish one batch of the outbox and remove it from the outbox",
            registry=registry,
            buckets=CALL_BUCKETS_S,
        )


class AwsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["service", "operation"]
        self.requests = Counter(
            "aws_requests",
            "HTTP requests sent to AWS, retries included (each is billed)",
            labels,
            registry=registry,
        )
        self.errors = Counter(
            "aws_request_errors",
            "AWS requests that failed: no answer, or an error status",
            labels,
            registry=registry,
        )
        self.duration = Histogram(
            "aws_call_duration_seconds",
            "Time of one AWS API call, its retries included",
            labels,
            registry=registry,
            buckets=CALL_BUCKETS_S,
        )


class RenderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.renders = Counter("calendar_renders", "Calendars rendered", registry=registry)
        self.todos = Counter(
            "calendar_rendered_todos", "Todos written into calendars", registry=registry
        )
        self.bytes = Counter(
            "calendar_rendered_bytes", "Bytes of calendar files written", registry=registry
        )
        self.duration = Histogram(
            "calendar_render_duration_seconds",
            "Time to render a calendar and store its file",
            registry=registry,
            buckets=HANDLER_BUCKETS_S,
        )

    def rendered(self, todos: int, size_bytes: int, seconds: float) -> None:
        self.renders.inc()
        self.todos.inc(todos)
        self.bytes.inc(size_bytes)
        self.duration.observe(seconds)


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "calendar_job_duration_seconds",
            "Time from a calendar request to its job's outcome (SUCCESS or FAILURE)",
            ["state"],
            registry=registry,
            buckets=JOB_BUCKETS_S,
        )


class ExpiryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deleted = Counter(
            "expired_rows_deleted",
            "Rows deleted because their window had passed (inbox rows, say), by table",
            ["table"],
            registry=registry,
        )

    def count_deleted(self, table: str, rows: int) -> None:
        self.deleted.labels(table).inc(rows)


class ReadAtScrape:
    """A gauge read when scraped (from the database, say); absent from a scrape it failed in."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        read: Callable[[], Awaitable[Samples]],
    ) -> None:
        self.name = name
        self._documentation = documentation
        self._labels = labels
        self._read = read
        self._samples: Samples | None = None
        self._deadline = Deadline()

    async def refresh(self, timeout_s: float) -> None:
        try:
            self._samples = await self._deadline.run(self._read(), timeout_s)
        except Exception as exc:
            self._samples = None
            logger.warning("metrics: %s left out of this scrape: %r", self.name, exc)

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self._documentation, labels=self._labels)

    def collect(self) -> Iterator[Metric]:
        if self._samples is None:
            return
        family = GaugeMetricFamily(self.name, self._documentation, labels=self._labels)
        for values, sample in sorted(self._samples.items()):
            family.add_metric(list(values), sample)
        yield family


class Metrics:
    """Everything one app measures, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # CPU and memory: with the job counts, the cost of a job
        ProcessCollector(registry=self.registry)
        self._read_at_scrape: list[ReadAtScrape] = []

    @functools.cached_property
    def http(self) -> HttpMetrics:
        return HttpMetrics(self.registry)

    @functools.cached_property
    def _consumers(self) -> ConsumerFamilies:
        return ConsumerFamilies(self.registry)

    def consumer(self, name: str) -> ConsumerMetrics:
        return ConsumerMetrics(self._consumers, name)

    @functools.cached_property
    def relay(self) -> RelayMetrics:
        return RelayMetrics(self.registry)

    @functools.cached_property
    def aws(self) -> AwsMetrics:
        return AwsMetrics(self.registry)

    @functools.cached_property
    def renders(self) -> RenderMetrics:
        return RenderMetrics(self.registry)

    @functools.cached_property
    def jobs(self) -> JobMetrics:
        return JobMetrics(self.registry)

    @functools.cached_property
    def expiry(self) -> ExpiryMetrics:
        return ExpiryMetrics(self.registry)

    def read_at_scrape(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        read: Callable[[], Awaitable[Samples]],
    ) -> None:
        """Add a gauge that `read` gives the samples of at each scrape."""
        gauge = ReadAtScrape(name, documentation, labels, read)
        self.registry.register(gauge)
        self._read_at_scrape.append(gauge)

    def watch_outbox(self, backlog: Callable[[], Awaitable[int]]) -> None:
        """Read the outbox's backlog at each scrape."""

        async def read() -> Samples:
            return {(): float(await backlog())}

        self.read_at_scrape(
            "outbox_backlog_events", "Events stored and waiting to be published", [], read
        )

    def watch_expiry(self, lag: Callable[[], Awaitable[dict[str, float]]]) -> None:
        """Read, at each scrape, how far each table's expiry is behind (0: nothing past its
        window waits), so a job that stopped keeping up shows."""

        async def read() -> Samples:
            return {(table,): seconds for table, seconds in (await lag()).items()}

        self.read_at_scrape(
            "expiry_lag_seconds",
            "How long the oldest row of a table has been past its window (0: none is)",
            ["table"],
            read,
        )

    async def exposition(self) -> bytes:
        """The registry in the Prometheus text format, gauges read at scrape time read now."""
        await asyncio.gather(
            *(gauge.refresh(SCRAPE_READ_TIMEOUT_S) for gauge in self._read_at_scrape)
        )
        return generate_latest(self.registry)


def metrics_view(metrics: Metrics) -> Handler:
    async def view(_request: web.Request) -> web.Response:
        body = await metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return view


def route_label(match_info: web.UrlMappingMatchInfo) -> str:
    """The route's template (`/api/v1/todos/{id}`), never the path a client sent."""
    resource = match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def http_metrics(metrics: Metrics) -> Middleware:
    """Middleware: count each request by route template, method and status, and time it.

    The status is the one sent; 499 when the client went away before its answer was complete. A
    response the server began but could not finish counts under its status and as cut off.
    """
    http = metrics.http

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started, status, cut = time.perf_counter(), "500", None
        try:
            response = await handler(request)
            cut = cut_off_by(request)
            status = CLIENT_CLOSED if cut == "client" else str(response.status)
            return response
        except web.HTTPException as exc:
            status = str(exc.status)
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            route, method = route_label(request.match_info), method_label(request.method)
            http.observe(route, method, status, time.perf_counter() - started)
            if cut == "server":
                http.cut_off.labels(route, method).inc()

    return middleware


def instrument_aws(client: Any, metrics: Metrics) -> None:
    """Count an aiobotocore client's requests and errors and time its calls, through the
    client's own event hooks (not the session's, which every app of the process shares)."""
    aws = metrics.aws
    events = client.meta.events

    def attempt(event_name: str, response_dict: Any, exception: Any, **_: Any) -> None:
        # response-received.<service>.<Operation>: once per HTTP request, retries included
        _event, service, operation = event_name.split(".", 2)
        aws.requests.labels(service, operation).inc()
        # the error series exists, at 0, from the operation's first request: rates need it
        errors = aws.errors.labels(service, operation)
        status = int((response_dict or {}).get("status_code", 0))
        if exception is not None or status >= 400:
            errors.inc()

    def call_started(context: dict[str, Any], **_: Any) -> None:
        context["metrics_started_s"] = time.perf_counter()

    def call_ended(event_name: str, context: dict[str, Any], **_: Any) -> None:
        started = context.get("metrics_started_s")
        if started is not None:
            _event, service, operation = event_name.split(".", 2)
            aws.duration.labels(service, operation).observe(time.perf_counter() - started)

    events.register("response-received", attempt)
    events.register("before-call", call_started)
    events.register("after-call", call_ended)
    events.register("after-call-error", call_ended)
