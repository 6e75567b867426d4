"""CalendarRequested -> CalendarStarted -> the .ics file -> CalendarReady | CalendarFailed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from services.calendar_worker.records import RenderBook, RenderRecords
from services.calendar_worker.rendering import render_and_store
from shared.blobs import BlobNotFoundError, BlobStore
from shared.claim_check import check_out
from shared.clock import utcnow
from shared.consumer import BusyError, Delivery, Handle
from shared.envelope import Envelope
from shared.events import (
    TERMINAL_CALENDAR_EVENTS,
    AnyEvent,
    CalendarFailed,
    CalendarReady,
    CalendarRequested,
    CalendarStarted,
    TodoSnapshot,
)
from shared.outages import is_outage
from shared.store import ConcurrencyError

logger = logging.getLogger(__name__)
# failures that no retry can mend: fail the job at once instead of waiting out the redrive count
PERMANENT = (BlobNotFoundError, ValueError)
# what an anonymous client is told; the exception itself (which may name accounts, buckets or
# hosts) goes to the log only
PUBLIC_REASONS: dict[type[Exception], str] = {
    BlobNotFoundError: "the calendar's snapshot of todos is missing",
    ValueError: "the calendar request is invalid",
}
DEFAULT_REASON = "the calendar could not be built"
# a calendar this small renders in a few milliseconds: see build_calendar
QUICK_RENDER_TODOS = 1000


@dataclass(frozen=True)
class WorkerPorts:
    # each job's render stream and render lease (records.py)
    book: RenderBook
    blobs: BlobStore
    # one render per job at a time, held as long as a message stays invisible
    lease: timedelta = timedelta(seconds=30)
    # calendars of at most this many inline todos are rendered without a lease
    quick_render_todos: int = QUICK_RENDER_TODOS


async def build_calendar(envelope: Envelope, delivery: Delivery, ports: WorkerPorts) -> None:
    """Render the request's calendar and record its outcome, once per job.

    A small calendar is rendered at once and its outcome appended as the render stream's first
    event: a duplicate delivery rendering it at the same time costs less than a lease's two
    transactions, and the stream's version lets only one outcome in. A large one (seconds of
    work) is leased to one delivery and its start recorded, so a duplicate waits instead.
    """
    request = envelope.data
    if not isinstance(request, CalendarRequested):
        return
    todos = request.todos
    quick = todos is not None and len(todos) <= ports.quick_render_todos
    if quick and await _render_at_once(envelope, request, todos or (), delivery, ports):
        return
    await _render_leased(envelope, request, delivery, ports)


async def _render_at_once(
    envelope: Envelope,
    request: CalendarRequested,
    todos: Sequence[TodoSnapshot],
    delivery: Delivery,
    ports: WorkerPorts,
) -> bool:
    """Render, store, append the outcome at version 1; False if a leased render began it."""
    task_id = request.task_id
    # one read spares a duplicate of a finished job (a redelivery, a replay) its render
    if _is_finished(await ports.book.history(task_id)):
        logger.info("calendar %s already finished; duplicate delivery ignored", task_id)
        return True
    rendering = render_and_store(task_id, todos, request.requested_at, ports.blobs)
    outcome = await _outcome(delivery, request, rendering)
    try:
        async with ports.book.transaction() as records:
            await records.append(task_id, 0, outcome, envelope)
    except ConcurrencyError:
        # another delivery recorded its outcome first (or, from a worker with another threshold,
        # a leased start: that path decides then)
        if _is_finished(await ports.book.history(task_id)):
            logger.info("calendar %s already finished; duplicate delivery ignored", task_id)
            return True
        return False
    return True


async def _render_leased(
    envelope: Envelope, request: CalendarRequested, delivery: Delivery, ports: WorkerPorts
) -> None:
    version = await _start(ports, request.task_id, envelope, delivery)
    if version is None:
        logger.info("calendar %s already finished; duplicate delivery ignored", request.task_id)
        return
    async with _lease_kept(ports, request.task_id, delivery.message_id):
        outcome = await _outcome(delivery, request, _check_out_and_render(request, ports))
    async with ports.book.transaction() as records:
        # the outcome and the lease given up together
        await records.append(request.task_id, version, outcome, envelope)
        await records.release(request.task_id, delivery.message_id)


async def _check_out_and_render(request: CalendarRequested, ports: WorkerPorts) -> CalendarReady:
    todos = await check_out(request, ports.blobs)
    return await render_and_store(request.task_id, todos, request.requested_at, ports.blobs)


async def _outcome(
    delivery: Delivery, request: CalendarRequested, rendering: Awaitable[CalendarReady]
) -> AnyEvent:
    """CalendarReady, or CalendarFailed when no retry can help; otherwise the error is raised."""
    try:
        return await rendering
    except Exception as exc:
        if is_outage(exc) or not (delivery.is_last_attempt or isinstance(exc, PERMANENT)):
            raise
        return _failed(request.task_id, exc, delivery)


def _is_finished(history: Sequence[Envelope]) -> bool:
    return any(event.type in TERMINAL_CALENDAR_EVENTS for event in history)


async def _start(
    ports: WorkerPorts, task_id: UUID, cause: Envelope, delivery: Delivery
) -> int | None:
    """Claim the job's render and record CalendarStarted; the render stream's version after it.

    None when the job is finished already; BusyError while another delivery renders it. The
    stream is read inside the claim's transaction, so a render that just finished is seen.
    """
    started = CalendarStarted(task_id=task_id, attempt=delivery.receive_count)
    async with ports.book.transaction() as records:
        history = await records.history(task_id)
        if _is_finished(history):
            return None
        await _claim_render(ports, records, task_id, delivery.message_id)
        # tried again in place after an outage: this attempt's start is already recorded
        if history and history[-1].data == started:
            return len(history)
        await records.append(task_id, len(history), started, cause)
    return len(history) + 1


async def _claim_render(
    ports: WorkerPorts, records: RenderRecords, task_id: UUID, holder: str
) -> None:
    """Lease the job's render to this delivery, or raise BusyError while another holds it."""
    now = utcnow()
    if await records.claim(task_id, holder, now, ports.lease):
        return
    until = await records.lease_expiry(task_id) or now
    wait_s = max(0.5, (until - now).total_seconds())
    raise BusyError(f"calendar {task_id} is being rendered by another delivery", wait_s)


@contextlib.asynccontextmanager
async def _lease_kept(ports: WorkerPorts, task_id: UUID, holder: str) -> AsyncIterator[None]:
    """Renew the render lease while the body runs, so a duplicate waits instead of restarting."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(ports.lease.total_seconds() / 3)
            with contextlib.suppress(Exception):
                async with ports.book.transaction() as records:
                    await records.claim(task_id, holder, utcnow(), ports.lease)

    renewing = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewing.cancel()


def _failed(task_id: UUID, exc: Exception, delivery: Delivery) -> CalendarFailed:
    logger.error(
        "calendar %s failed on attempt %d: %r", task_id, delivery.receive_count, exc, exc_info=exc
    )
    reason = next(
        (text for kind, text in PUBLIC_REASONS.items() if isinstance(exc, kind)), DEFAULT_REASON
    )
    return CalendarFailed(task_id=task_id, reason=reason, attempts=delivery.receive_count)


def make_handle(ports: WorkerPorts) -> Handle:
    async def handle(envelope: Envelope, delivery: Delivery) -> None:
        await HANDLERS.get(envelope.type, _ignore)(envelope, delivery, ports)

    return handle


async def _ignore(envelope: Envelope, _delivery: Delivery, _ports: WorkerPorts) -> None:
    logger.debug("calendar_worker does not handle %s", envelope.type)


HANDLERS = {"CalendarRequested": build_calendar}
