"""The job state machine: fold calendar events into a job, whatever order they arrive in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.contracts.events import (
    AnyEvent,
    CalendarFailed,
    CalendarProgress,
    CalendarReady,
    CalendarRequested,
    CalendarRevoked,
    CalendarStarted,
)
from shared.contracts.responses import TERMINAL_STATUSES
from shared.contracts.tenancy import ANONYMOUS_TENANT


class Status(StrEnum):
    """Celery's state names, as the practical's clients expect them."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    # a later attempt is running after an earlier one failed
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    # cancelled by the client (Celery's name for a revoked task)
    REVOKED = "REVOKED"


TERMINAL = frozenset(Status(status) for status in TERMINAL_STATUSES)


@dataclass(frozen=True)
class Job:
    task_id: UUID
    # whose job it is (its request's tenant); only that tenant's principals see it
    tenant: str = ANONYMOUS_TENANT
    status: Status = Status.PENDING
    attempt: int = 0
    todo_count: int | None = None
    requested_at: datetime | None = None
    result_key: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    error: str | None = None
    # set by the projection when the outcome arrives (the event's time, not part of `evolve`)
    finished_at: datetime | None = None
    # todos rendered so far of how many, while a large calendar renders (None otherwise)
    progress_done: int | None = None
    progress_total: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def evolve(job: Job, event: AnyEvent) -> Job:
    """Apply one event; a finished job keeps its outcome, an earlier stage never overwrites.

    Folded in any order, a job's events give the same job: a job has one outcome at most
    (CalendarReady, CalendarFailed or CalendarRevoked, decided in the worker's render stream), and
    every other event only adds what it knows. The client's CalendarCancelled decides nothing:
    the render may have ended first, and only the worker can tell.
    """
    if isinstance(event, CalendarRequested):
        return replace(job, todo_count=event.todo_count, requested_at=event.requested_at)
    if isinstance(event, CalendarStarted):
        return _started(job, event.attempt)
    if isinstance(event, CalendarProgress):
        return _progressed(job, event)
    if job.finished:
        return job
    if isinstance(event, CalendarReady):
        return replace(
            _ended(job, Status.SUCCESS),
            result_key=event.blob_key,
            size_bytes=event.size_bytes,
            sha256=event.sha256,
        )
    if isinstance(event, CalendarFailed):
        attempt = max(job.attempt, event.attempts)
        return replace(_ended(job, Status.FAILURE), error=event.reason, attempt=attempt)
    if isinstance(event, CalendarRevoked):
        return _ended(job, Status.REVOKED)
    return job


def owned(job: Job, event: AnyEvent, tenant: str) -> Job:
    """The job with its tenant: the request's says whose it is; an event that arrives before
    the request names the same tenant (the worker's events inherit their request's)."""
    if isinstance(event, CalendarRequested):
        return replace(job, tenant=tenant)
    return job


def _started(job: Job, attempt: int) -> Job:
    # the attempt count is kept even when the outcome arrived first
    if job.finished or attempt <= job.attempt:
        return replace(job, attempt=max(job.attempt, attempt))
    status = Status.STARTED if attempt == 1 else Status.RETRY
    # a new attempt renders from the start
    return replace(job, status=status, attempt=attempt, progress_done=None, progress_total=None)


def _progressed(job: Job, event: CalendarProgress) -> Job:
    """A report of an older attempt is stale; one of a newer attempt also says it started."""
    if event.attempt < job.attempt:
        return job
    job = _started(job, event.attempt)
    if job.finished:
        return job
    # reports of one attempt may arrive out of order: the furthest stands
    done = max(event.done, job.progress_done or 0)
    return replace(job, progress_done=done, progress_total=event.total)


def _ended(job: Job, status: Status) -> Job:
    return replace(job, status=status, progress_done=None, progress_total=None)
