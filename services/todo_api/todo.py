"""The todo aggregate: pure decisions and folds, no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.todo_api.commands import CancelCalendar, CreateTodo, RequestCalendar, UpdateTodo
from shared.contracts.events import (
    AnyEvent,
    CalendarCancelled,
    CalendarRequested,
    CalendarRevoked,
    TodoCreated,
    TodoDeleted,
    TodoSnapshot,
    TodoUpdated,
)

Todo = TodoSnapshot | None


class TodoNotFoundError(Exception):
    """The todo does not exist (never created, or deleted)."""


class CalendarNotFoundError(Exception):
    """No calendar job was requested under this task id."""


class CalendarFinishedError(Exception):
    """The calendar job has its outcome already: too late to cancel it."""


def create(command: CreateTodo, todo_id: int, now: datetime) -> list[AnyEvent]:
    todo = TodoSnapshot(
        id=todo_id,
        title=command.title,
        description=command.description,
        completed=command.completed,
        deadline_at=command.deadline_at,
        created_at=now,
        updated_at=now,
    )
    return [TodoCreated(todo=todo)]


def update(state: Todo, command: UpdateTodo, now: datetime) -> list[AnyEvent]:
    current = check_exists(state)
    changed = tuple(
        name for name, value in command.changes.items() if getattr(current, name) != value
    )
    if not changed:
        return []
    todo = current.model_copy(update={**command.changes, "updated_at": now})
    return [TodoUpdated(todo=todo, changed=changed)]


def delete(state: Todo, now: datetime) -> list[AnyEvent]:
    current = check_exists(state)
    return [TodoDeleted(id=current.id, deleted_at=now)]


def request_calendar(
    command: RequestCalendar, todos: list[TodoSnapshot], refs: str, now: datetime
) -> CalendarRequested:
    """The snapshot is taken now, so later edits and replays never change this calendar; `refs`
    names the same todos by version (shared/contracts/todo_refs.py)."""
    return CalendarRequested(
        task_id=command.task_id,
        requested_at=now,
        todo_count=len(todos),
        todos=tuple(todos),
        todo_refs=refs,
    )


def cancel_calendar(
    job: Iterable[AnyEvent], command: CancelCalendar, now: datetime
) -> CalendarCancelled | None:
    """The cancel of a requested job; None when it is cancelled already (a cancel is idempotent).

    Whether the job has finished is the job tracker's to say; the caller asks it first.
    """
    events = list(job)
    if not any(isinstance(event, CalendarRequested) for event in events):
        raise CalendarNotFoundError
    # a cancel stored before revocations were the worker's is read as the revocation it was
    if any(isinstance(event, CalendarCancelled | CalendarRevoked) for event in events):
        return None
    return CalendarCancelled(task_id=command.task_id, cancelled_at=now)


def check_exists(state: Todo) -> TodoSnapshot:
    if state is None:
        raise TodoNotFoundError
    return state


def apply(state: Todo, event: AnyEvent) -> Todo:
    if isinstance(event, TodoCreated | TodoUpdated):
        return event.todo
    if isinstance(event, TodoDeleted):
        return None
    return state


def fold(events: Iterable[AnyEvent], start: Todo = None) -> Todo:
    state = start
    for event in events:
        state = apply(state, event)
    return state
