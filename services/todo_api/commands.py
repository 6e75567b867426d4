"""What callers ask the todo service to do (imperative, validated already)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class CreateTodo:
    title: str
    description: str | None = None
    completed: bool = False
    deadline_at: datetime | None = None


@dataclass(frozen=True)
class UpdateTodo:
    todo_id: int
    # only the fields the caller sent; absent fields keep their values
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeleteTodo:
    todo_id: int


@dataclass(frozen=True)
class RequestCalendar:
    task_id: UUID


@dataclass(frozen=True)
class CancelCalendar:
    task_id: UUID
