"""What the operations page asks of the others, each with a short timeout: a part that does not
answer in time, or at all, is reported as such and never fails the page. The page says what
failed in a few public words (`reason`); the exception, with its hosts and accounts, goes to the
log."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

import aiohttp
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ValidationError

from shared.app.readiness import NotReady, Readiness
from shared.contracts.ops_report import QueueDepth, ServiceState
from shared.contracts.topology import QUEUES, Names
from shared.outages import is_outage

logger = logging.getLogger(__name__)

READY_PATH = "/api/v1/ready"
METRICS_PATH = "/metrics"
# the relay's gauge in shared/observability/metrics.py
BACKLOG_METRIC = "outbox_backlog_events"
DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
# a body read with the model its sender wrote it with
ModelT = TypeVar("ModelT", bound=BaseModel)


def reason(exc: BaseException, timeout_s: float) -> str:
    """A few public words for the page: what kind of failure, never its text (which can name
    hosts, addresses, accounts or roles); callers log the detail."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if _refused(exc):
        return "connection refused"
    if isinstance(exc, aiohttp.ClientError):
        return "connection failed"
    if isinstance(exc, ClientError):
        return f"refused ({exc.response.get('Error', {}).get('Code', 'error')})"
    if is_outage(exc):
        return "unreachable"
    return "failed"


def _refused(exc: BaseException) -> bool:
    """Nothing listens there: the connection was refused (aiohttp keeps the cause in os_error)."""
    return isinstance(exc, ConnectionRefusedError) or isinstance(
        getattr(exc, "os_error", None), ConnectionRefusedError
    )


async def probe_service(
    client: aiohttp.ClientSession,
    service: str,
    base_url: str | None,
    timeout_s: float,
    metrics_url: str | None = None,
) -> ServiceState:
    """Readiness of the service at `base_url` (None: unknown) and the outbox backlog its metrics
    listener at `metrics_url` reports (None: no backlog shown)."""
    if not base_url:
        setting = f"{service.upper()}_URL"
        return ServiceState(
            service=service,
            status="unknown",
            checks={},
            outbox_backlog=None,
            error=f"{setting} is not set",
        )
    root = base_url.rstrip("/")
    ready, backlog = await asyncio.gather(
        _readiness(client, root + READY_PATH, timeout_s),
        _backlog(client, metrics_url, timeout_s),
    )
    return service_state(service, ready, backlog)


def service_state(
    service: str, answer: Readiness | NotReady, outbox_backlog: int | None
) -> ServiceState:
    if isinstance(answer, Readiness):
        return ServiceState(
            service=service,
            status="ready",
            checks=answer.checks,
            outbox_backlog=outbox_backlog,
            error=None,
        )
    return ServiceState(
        service=service,
        status="not ready",
        checks=answer.checks,
        outbox_backlog=outbox_backlog,
        error=answer.error or "not ready",
    )


async def _readiness(
    client: aiohttp.ClientSession, url: str, timeout_s: float
) -> Readiness | NotReady:
    """The service's answer, read with the models its readiness view writes; an answer without
    them (not ours, or cut short) still says ready or not by its status, with no checks."""
    try:
        async with client.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as answer:
            body = await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("operations page: %s did not answer: %r", url, exc)
        return NotReady(error=f"unreachable: {reason(exc, timeout_s)}", checks={})
    if status == 200:
        return _parsed(Readiness, body) or Readiness(status="ready", checks={})
    if status == 503:
        return _parsed(NotReady, body) or NotReady(error="", checks={})
    return NotReady(error=f"{READY_PATH} answered {status}", checks={})


def _parsed(model: type[ModelT], body: bytes) -> ModelT | None:
    try:
        return model.model_validate_json(body)
    except ValidationError:
        return None


async def _backlog(
    client: aiohttp.ClientSession, metrics_url: str | None, timeout_s: float
) -> int | None:
    if not metrics_url:
        return None
    url = metrics_url.rstrip("/") + METRICS_PATH
    try:
        async with client.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as answer:
            if answer.status != 200:
                return None
            text = await answer.text()
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError):
        return None
    return backlog_in(text)


def backlog_in(exposition: str) -> int | None:
    """The outbox backlog gauge in a Prometheus text exposition (None: the service has none)."""
    try:
        for family in text_string_to_metric_families(exposition):
            if family.name == BACKLOG_METRIC and family.samples:
                return int(sum(sample.value for sample in family.samples))
    except ValueError:
        logger.debug("unparsable metrics exposition")
    return None


async def queue_depths(sqs: Any, names: Names, timeout_s: float) -> list[QueueDepth]:
    """Every queue of the topology and its DLQ, in that order."""
    wanted = [
        (name, dead_letter)
        for spec in QUEUES
        for name, dead_letter in ((names.queue(spec), False), (names.dlq(spec), True))
    ]
    return list(
        await asyncio.gather(
            *(_depth(sqs, name, dead_letter, timeout_s) for name, dead_letter in wanted)
        )
    )


async def _depth(sqs: Any, name: str, dead_letter: bool, timeout_s: float) -> QueueDepth:
    try:
        async with asyncio.timeout(timeout_s):
            url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
            found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=DEPTH_ATTRIBUTES)
        visible, in_flight = (int(found["Attributes"][each]) for each in DEPTH_ATTRIBUTES)
    # whatever the broker or its client raise, the page shows it for this queue alone
    except Exception as exc:
        logger.warning("operations page: depth of %s unknown: %r", name, exc)
        return QueueDepth(
            queue=name,
            dead_letter=dead_letter,
            visible=None,
            in_flight=None,
            error=reason(exc, timeout_s),
        )
    return QueueDepth(queue=name, dead_letter=dead_letter, visible=visible, in_flight=in_flight)
