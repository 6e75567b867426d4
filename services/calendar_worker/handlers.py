"""CalendarRequested -> CalendarStarted -> the .ics file -> CalendarReady | CalendarFailed.

CalendarCancelled -> CalendarRevoked in the job's render stream, unless the job has its outcome: a
render not begun never begins, one under way stops at its next chunk, and no outcome can be
recorded after it. The render stream is the one authority on how a job ends: its outcome and its
revocation compete for the same version, and the tracker folds whichever won.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from services.calendar_worker.records import RenderBook, RenderRecords
from services.calendar_worker.rendering import RenderCancelledError, RenderWatch, render_and_store
from shared.aws.blobs import BlobNotFoundError, BlobStore
from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    OUTCOME_EVENTS,
    AnyEvent,
    CalendarCancelled,
    CalendarFailed,
    CalendarProgress,
    CalendarReady,
    CalendarRequested,
    CalendarRevoked,
    CalendarStarted,
    TodoSnapshot,
)
from shared.eventstore.store import ConcurrencyError
from shared.messaging.claim_check import check_out
from shared.messaging.consumer import BusyError, Delivery, Handle
from shared.observability.metrics import RenderMetrics
from shared.outages import is_outage

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
# a large calendar's render looks for a cancel, and reports its progress, this often: at most
# two progress events a second per job, and none for a render shorter than this
WATCH_INTERVAL_S = 0.5
# a start whose version another event took is decided again on the new stream, this many times
START_DECISIONS = 3


@dataclass(frozen=True)
class WorkerPorts:
    # each job's render stream and render lease (records.py)
    book: RenderBook
    blobs: BlobStore
    # one render per job at a time, held as long as a message stays invisible
    lease: timedelta = timedelta(seconds=30)
    # calendars of at most this many inline todos are rendered without a lease
    quick_render_todos: int = QUICK_RENDER_TODOS
    watch_interval_s: float = WATCH_INTERVAL_S
    # counts each calendar stored (None: not counted)
    renders: RenderMetrics | None = None


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
    # one read spares a duplicate of a finished job (a redelivery, a replay) its render, and a
    # cancelled job any render
    if _has_ended(await ports.book.history(task_id), task_id):
        return True
    rendering = render_and_store(
        task_id, envelope.tenant, todos, request.requested_at, ports.blobs, ports.renders
    )
    outcome = await _outcome(delivery, request, rendering)
    try:
        async with ports.book.transaction() as records:
            await records.append(task_id, 0, outcome, envelope)
    except ConcurrencyError:
        # another delivery recorded its outcome first, or the job was cancelled meanwhile (the
        # file just stored is left to the bucket's lifecycle rule); or, from a worker with
        # another threshold, a leased start: that path decides then
        return _has_ended(await ports.book.history(task_id), task_id)
    return True


async def _render_leased(
    envelope: Envelope, request: CalendarRequested, delivery: Delivery, ports: WorkerPorts
) -> None:
    task_id, holder = request.task_id, delivery.message_id
    version = await _start_deciding_again(ports, task_id, envelope, delivery)
    if version is None:
        logger.info("calendar %s finished or cancelled already; delivery ignored", task_id)
        return
    watch = RenderWatch(total=request.todo_count)
    try:
        async with _lease_kept(ports, task_id, holder), _watched(ports, watch, envelope, delivery):
            rendering = _check_out_and_render(request, envelope.tenant, ports, watch)
            outcome = await _outcome(delivery, request, rendering)
        await _finish(ports, task_id, version, outcome, envelope, holder)
    except RenderCancelledError:
        async with ports.book.transaction() as records:
            await records.release(task_id, holder)
        logger.info("calendar %s cancelled while rendering; no outcome recorded", task_id)


async def _check_out_and_render(
    request: CalendarRequested, tenant: str, ports: WorkerPorts, watch: RenderWatch
) -> CalendarReady:
    todos = await check_out(request, ports.blobs)
    watch.check()
    return await render_and_store(
        request.task_id, tenant, todos, request.requested_at, ports.blobs, ports.renders, watch
    )


async def _finish(
    ports: WorkerPorts,
    task_id: UUID,
    version: int,
    outcome: AnyEvent,
    cause: Envelope,
    holder: str,
) -> None:
    """Record the outcome and give the lease up together.

    Another event may have taken the outcome's version: a revocation (RenderCancelledError), or,
    after this delivery's lease ran out, another delivery's start or outcome; this one then stands
    down, and the job ends as the render stream says.
    """
    try:
        async with ports.book.transaction() as records:
            await records.append(task_id, version, outcome, cause)
            await records.release(task_id, holder)
    except ConcurrencyError:
        if _is_revoked(await ports.book.history(task_id)):
            raise RenderCancelledError from None
        logger.info("calendar %s was taken over by another delivery; this one stands down", task_id)


async def _outcome(
    delivery: Delivery, request: CalendarRequested, rendering: Awaitable[CalendarReady]
) -> AnyEvent:
    """CalendarReady, or CalendarFailed when no retry can help; otherwise the error is raised."""
    try:
        return await rendering
    except RenderCancelledError:
        raise
    except Exception as exc:
        if is_outage(exc) or not (delivery.is_last_attempt or isinstance(exc, PERMANENT)):
            raise
        return _failed(request.task_id, exc, delivery)


def _is_finished(history: Sequence[Envelope]) -> bool:
    """Whether the job has its outcome or was revoked: either way it needs no render."""
    return any(event.type in OUTCOME_EVENTS for event in history)


def _is_revoked(history: Sequence[Envelope]) -> bool:
    return any(event.type == "CalendarRevoked" for event in history)


def _has_ended(history: Sequence[Envelope], task_id: UUID) -> bool:
    """`_is_finished`, saying so in the log."""
    if not _is_finished(history):
        return False
    logger.info("calendar %s finished or cancelled already; delivery ignored", task_id)
    return True


async def _start_deciding_again(
    ports: WorkerPorts, task_id: UUID, cause: Envelope, delivery: Delivery
) -> int | None:
    """`_start`, decided again on the new stream when another event took the start's version."""
    for _ in range(START_DECISIONS - 1):
        with contextlib.suppress(ConcurrencyError):
            return await _start(ports, task_id, cause, delivery)
    return await _start(ports, task_id, cause, delivery)


async def _start(
    ports: WorkerPorts, task_id: UUID, cause: Envelope, delivery: Delivery
) -> int | None:
    """Claim the job's render, then record CalendarStarted; the render stream's version after it.

    None when the job has ended already; BusyError while another delivery renders it. The claim
    comes before the read: whatever was committed before the claim (an outcome, a revocation, the
    release of a finished render) is in the read, on PostgreSQL as on SQLite, and no other
    delivery can start the job while this one holds the lease.
    """
    started = CalendarStarted(task_id=task_id, attempt=delivery.receive_count)
    holder = delivery.message_id
    async with ports.book.transaction() as records:
        # held by this message already: this delivery, tried again in place after an outage, or
        # an earlier receive of the same message (told apart by the attempt)
        resumed = await records.lease_holder(task_id, utcnow()) == holder
        await _claim_render(ports, records, task_id, holder)
        history = await records.history(task_id)
        if _is_finished(history):
            await records.release(task_id, holder)
            return None
        if resumed and history and history[-1].data == started:
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


@contextlib.asynccontextmanager
async def _watched(
    ports: WorkerPorts, watch: RenderWatch, cause: Envelope, delivery: Delivery
) -> AsyncIterator[None]:
    """While the body renders: stop it once its job is cancelled, and report its progress.

    The cancel may have reached another worker: the render stream says so to every worker.
    """

    async def look_regularly() -> None:
        reported = 0
        while not watch.cancelled.is_set():
            await asyncio.sleep(ports.watch_interval_s)
            try:
                reported = await _look(ports, watch, cause, delivery.receive_count, reported)
            except Exception as exc:
                # progress is a courtesy and a cancel still meets the outcome's append: the
                # render goes on
                logger.warning(
                    "a calendar render could not look for a cancel or report progress: %r", exc
                )

    looking = asyncio.create_task(look_regularly())
    try:
        yield
    finally:
        looking.cancel()
        # no report commits after the outcome
        with contextlib.suppress(asyncio.CancelledError):
            await looking


async def _look(
    ports: WorkerPorts, watch: RenderWatch, cause: Envelope, attempt: int, reported: int
) -> int:
    """Stop a cancelled job's render, or report how far it got if it moved; the count reported."""
    task_id = cause.correlation_id
    assert task_id is not None, "a calendar request is correlated by its task id"
    if _is_revoked(await ports.book.history(task_id)):
        watch.cancelled.set()
        return reported
    done = watch.done
    if done == reported:
        return reported
    progress = CalendarProgress(task_id=task_id, attempt=attempt, done=done, total=watch.total)
    async with ports.book.transaction() as records:
        await records.append_progress(task_id, progress, cause)
    return done


def _failed(task_id: UUID, exc: Exception, delivery: Delivery) -> CalendarFailed:
    logger.error(
        "calendar %s failed on attempt %d: %r", task_id, delivery.receive_count, exc, exc_info=exc
    )
    reason = next(
        (text for kind, text in PUBLIC_REASONS.items() if isinstance(exc, kind)), DEFAULT_REASON
    )
    return CalendarFailed(task_id=task_id, reason=reason, attempts=delivery.receive_count)


async def cancel_calendar(envelope: Envelope, _delivery: Delivery, ports: WorkerPorts) -> None:
    """Revoke the job in its render stream, unless the job has ended already.

    The revocation takes the version a render's outcome would take, so no outcome can follow it,
    and it is published: the tracker ends the job as the render stream decided.
    """
    cancel = envelope.data
    if not isinstance(cancel, CalendarCancelled):
        return
    try:
        await _revoke(ports, cancel, envelope)
    except ConcurrencyError:
        # a start or an outcome was appended since the read: decide again on the new stream
        await _revoke(ports, cancel, envelope)


async def _revoke(ports: WorkerPorts, cancel: CalendarCancelled, cause: Envelope) -> None:
    async with ports.book.transaction() as records:
        history = await records.history(cancel.task_id)
        if _is_finished(history):
            logger.info("calendar %s ended before its cancel; cancel ignored", cancel.task_id)
            return
        revoked = CalendarRevoked(task_id=cancel.task_id, revoked_at=utcnow())
        await records.append(cancel.task_id, len(history), revoked, cause)
    logger.info("calendar %s revoked", cancel.task_id)


def make_handle(ports: WorkerPorts) -> Handle:
    async def handle(envelope: Envelope, delivery: Delivery) -> None:
        await HANDLERS.get(envelope.type, _ignore)(envelope, delivery, ports)

    return handle


async def _ignore(envelope: Envelope, _delivery: Delivery, _ports: WorkerPorts) -> None:
    logger.debug("calendar_worker does not handle %s", envelope.type)


HANDLERS = {"CalendarRequested": build_calendar, "CalendarCancelled": cancel_calendar}
