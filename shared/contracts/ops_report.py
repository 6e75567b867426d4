"""The operations page's JSON (GET /api/v1/ops): jobs, queues, services.

todo_api assembles it; the jobs part comes from the job tracker, which owns the jobs table.
Datetimes are naive UTC, as everywhere in the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

ServiceStatus = Literal["ready", "not ready", "unknown"]
# the job tracker's route for the jobs part (todo_api calls it at JOB_TRACKER_URL)
JOBS_OVERVIEW_PATH = "/api/v1/ops/jobs"


class ThroughputBucket(BaseModel):
    """Jobs that finished within `seconds` from `start` (the last bucket is still filling)."""

    start: datetime
    seconds: int
    succeeded: int
    failed: int


class RecentJob(BaseModel):
    """A job, by its last change."""

    task_id: UUID
    task_status: str
    todo_count: int | None
    updated_at: datetime


class FailedJob(BaseModel):
    """A failed job and why."""

    task_id: UUID
    error: str | None
    attempts: int
    failed_at: datetime


class JobsOverview(BaseModel):
    """The jobs table in figures: by state, finished per time bucket, the latest ones."""

    by_state: dict[str, int]
    bucket_s: int
    throughput: list[ThroughputBucket]
    recent: list[RecentJob]
    failures: list[FailedJob]


class QueueDepth(BaseModel):
    """One queue or DLQ: messages waiting and in flight (None when it could not be read)."""

    queue: str
    dead_letter: bool
    visible: int | None
    in_flight: int | None
    error: str | None = None


class ServiceState(BaseModel):
    """One service's readiness and outbox backlog (None: no outbox, or unread)."""

    service: str
    status: ServiceStatus
    checks: dict[str, str]
    outbox_backlog: int | None
    error: str | None = None


class OpsReport(BaseModel):
    """The operations page's figures; a part that could not be read says why."""

    generated_at: datetime
    services: list[ServiceState]
    queues: list[QueueDepth]
    jobs: JobsOverview | None
    jobs_error: str | None = None
