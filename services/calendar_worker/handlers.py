"""CalendarRequested -> CalendarStarted -> the .ics file -> CalendarReady | CalendarFailed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from services.calendar_worker.rendering import render_and_store
from shared.blobs import BlobNotFoundError, BlobStore
from shared.claim_check import check_out
from shared.consumer import Delivery, Handle
from shared.envelope import Envelope
from shared.events import AnyEvent, CalendarFailed, CalendarRequested, CalendarStarted
from shared.relay import OutboxRelay
from shared.store import EventStore

logger = logging.getLogger(__name__)
TERMINAL_TYPES = frozenset({"CalendarReady", "CalendarFailed"})
# failures that no retry can mend: fail the job at once instead of waiting out the redrive count
PERMANENT = (BlobNotFoundError, ValueError)


@dataclass(frozen=True)
class WorkerPorts:
    store: EventStore
    blobs: BlobStore
    relay: OutboxRelay


def render_stream_id(task_id: UUID) -> str:
    return f"render-{task_id}"


async def build_calendar(envelope: Envelope, delivery: Delivery, ports: WorkerPorts) -> None:
    request = envelope.data
    if not isinstance(request, CalendarRequested):
        return
    stream = render_stream_id(request.task_id)
    history = await ports.store.load(stream)
    if any(event.type in TERMINAL_TYPES for event in history):
        logger.info("calendar %s already finished; duplicate delivery ignored", request.task_id)
        return
    started = CalendarStarted(task_id=request.task_id, attempt=delivery.receive_count)
    version = await _record(ports, stream, len(history), started, envelope)
    try:
        todos = await check_out(request, ports.blobs)
        outcome: AnyEvent = await render_and_store(
            request.task_id, todos, request.requested_at, ports.blobs
        )
    except Exception as exc:
        if not (delivery.is_last_attempt or isinstance(exc, PERMANENT)):
            raise
        reason = f"{type(exc).__name__}: {exc}"
        outcome = CalendarFailed(
            task_id=request.task_id, reason=reason, attempts=delivery.receive_count
        )
    await _record(ports, stream, version, outcome, envelope)


async def _record(
    ports: WorkerPorts, stream: str, version: int, event: AnyEvent, cause: Envelope
) -> int:
    """Append one event to the render stream (a conflict means another worker got there first)."""
    async with ports.store.transaction() as conn:
        await ports.store.append(
            conn,
            stream,
            version,
            [event],
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )
    ports.relay.notify()
    return version + 1


def make_handle(ports: WorkerPorts) -> Handle:
    async def handle(envelope: Envelope, delivery: Delivery) -> None:
        await HANDLERS.get(envelope.type, _ignore)(envelope, delivery, ports)

    return handle


async def _ignore(envelope: Envelope, _delivery: Delivery, _ports: WorkerPorts) -> None:
    logger.debug("calendar_worker does not handle %s", envelope.type)


HANDLERS = {"CalendarRequested": build_calendar}
