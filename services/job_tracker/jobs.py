"""The job state machine: fold calendar events into a job, whatever order they arrive in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.contract import TERMINAL_STATUSES
from shared.events import (
    AnyEvent,
    CalendarFailed,
    CalendarReady,
    CalendarRequested,
    CalendarStarted,
)


class Status(StrEnum):
    """Celery's state names, as the practical's clients expect them."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    # a later attempt is running after an earlier one failed
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


TERMINAL = frozenset(Status(status) for status in TERMINAL_STATUSES)


@dataclass(frozen=True)
class Job:
    task_id: UUID
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

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def evolve(job: Job, event: AnyEvent) -> Job:
    """Apply one event; a finished job keeps its outcome, an earlier stage never overwrites."""
    if isinstance(event, CalendarRequested):
        return replace(job, todo_count=event.todo_count, requested_at=event.requested_at)
    if isinstance(event, CalendarStarted):
        return _started(job, event)
    if job.finished:
        return job
    if isinstance(event, CalendarReady):
        return replace(
            job,
            status=Status.SUCCESS,
            result_key=event.blob_key,
            size_bytes=event.size_bytes,
            sha256=event.sha256,
        )
    if isinstance(event, CalendarFailed):
        attempt = max(job.attempt, event.attempts)
        return replace(job, status=Status.FAILURE, error=event.reason, attempt=attempt)
    return job


def _started(job: Job, event: CalendarStarted) -> Job:
    # the attempt count is kept even when the outcome arrived first
    if job.finished or event.attempt <= job.attempt:
        return replace(job, attempt=max(job.attempt, event.attempt))
    status = Status.STARTED if event.attempt == 1 else Status.RETRY
    return replace(job, status=status, attempt=event.attempt)
