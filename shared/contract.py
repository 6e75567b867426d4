"""Public response bodies that more than one service serves or documents."""

from __future__ import annotations

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
    """The cancel of a calendar job is recorded: its status turns REVOKED."""

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
