"""Public response bodies that more than one service serves or documents."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

# the task_status values after which a job never changes again (Celery's names)
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


class Error(BaseModel):
    """An error."""

    error: str


class Health(BaseModel):
    """The service is up."""

    status: str


class TaskAccepted(BaseModel):
    """A calendar job was accepted."""

    task_id: UUID
    task_url: str


class Progress(BaseModel):
    """How many of a calendar's todos are rendered so far."""

    done: int
    total: int


class TaskCancelled(BaseModel):
    """The cancel of a calendar job is recorded. `task_status` is REVOKED once the calendar worker
    has revoked the job; until then it is the job's status before the cancel took effect, and the
    job ends REVOKED, or as its render ended if that came first: `task_url` tells which."""

    task_id: UUID
    task_status: str
    task_url: str


class TaskStatus(BaseModel):
    """Where a calendar job stands."""

    task_id: UUID
    task_status: str
    result_url: str | None
    error: str | None = None
    # only while a large calendar renders: the practical's clients know the first three keys alone
    progress: Progress | None = None
    # only on a SUCCESS whose file is gone (too old, or missing from the blob store): the
    # practical's clients know the first three keys alone
    expired: bool | None = None


class JobSummary(BaseModel):
    """One calendar job in the history."""

    task_id: UUID
    task_status: str
    requested_at: datetime
    # when the job succeeded or failed; None while it runs
    finished_at: datetime | None
    todo_count: int | None
    # the calendar file's size in bytes, once there is one
    size_bytes: int | None
    # why a FAILURE failed
    error: str | None
    # where a SUCCESS can be downloaded while its file is kept; None otherwise
    result_url: str | None
    expired: bool


class JobHistory(BaseModel):
    """Calendar jobs, newest request first; `next_cursor` asks for the page after this one."""

    jobs: list[JobSummary]
    # None on the last page
    next_cursor: str | None


# the job tracker's count of the principal's tenant's jobs not yet finished (todo_api's cap)
IN_FLIGHT_PATH = "/api/v1/todos/ical/in-flight"
# a job's status as Server-Sent Events, served by the job tracker and on todo_api's base URL
JOB_EVENTS_PATH = "/api/v1/todos/ical/{task_id}/events"
JOB_EVENTS_SUMMARY = (
    "Follow a calendar job as Server-Sent Events: its status now, then each change, "
    "until it finishes (each event's data is the status route's JSON)"
)


class JobsInFlight(BaseModel):
    """How many of the tenant's calendar jobs are not yet finished, as far as the tracker knows."""

    in_flight: int
