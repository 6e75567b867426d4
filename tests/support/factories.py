"""Builders of the values tests make in many files: todos, calendar requests, deliveries.

Each takes any field as a keyword, so a test names only what it is about.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import (
    CalendarCancelled,
    CalendarFact,
    CalendarReady,
    CalendarRequested,
    CalendarRevoked,
    TodoSnapshot,
)
from shared.contracts.streams import calendar_stream_id, render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.messaging.consumer import Delivery

NOW = datetime(2024, 4, 17, 14, 0)


def todo_snapshot(todo_id: int = 1, **fields: Any) -> TodoSnapshot:
    """An open todo named `Todo <id>`, due, created and updated at NOW."""
    defaults = {
        "id": todo_id,
        "title": f"Todo {todo_id}",
        "description": None,
        "completed": False,
        "deadline_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return TodoSnapshot.model_validate({**defaults, **fields})


def todo_snapshots(count: int, **fields: Any) -> tuple[TodoSnapshot, ...]:
    """Todos 1 to `count`, each with the same `fields`."""
    return tuple(todo_snapshot(todo_id, **fields) for todo_id in range(1, count + 1))


def calendar_requested(
    todos: tuple[TodoSnapshot, ...] | None = (), **fields: Any
) -> CalendarRequested:
    """A calendar job of `todos`, requested at NOW under a fresh task id."""
    defaults = {"task_id": uuid4(), "requested_at": NOW, "todo_count": len(todos or ())}
    return CalendarRequested.model_validate({**defaults, "todos": todos, **fields})


def calendar_ready(task_id: UUID, **fields: Any) -> CalendarReady:
    """The outcome of a rendered job: a small file of one event."""
    defaults = {"blob_key": f"calendars/{task_id}.ics", "size_bytes": 1, "sha256": "s"}
    return CalendarReady.model_validate(
        {"task_id": task_id, "event_count": 1, **defaults, **fields}
    )


def calendar_envelope(event: CalendarRequested) -> Envelope:
    """The request in its envelope, on the calendar's stream, as todo_api publishes it."""
    return wrap(
        event,
        stream_id=calendar_stream_id(event.task_id),
        stream_version=1,
        correlation_id=event.task_id,
        origin=ANONYMOUS_ORIGIN,
    )


def cancel_envelope(task_id: UUID) -> Envelope:
    """The client's cancel, as todo_api publishes it: the calendar stream's second event."""
    cancel = CalendarCancelled(task_id=task_id, cancelled_at=NOW)
    return wrap(
        cancel,
        stream_id=calendar_stream_id(task_id),
        stream_version=2,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )


def revoked_envelope(task_id: UUID, version: int = 1) -> Envelope:
    """The worker's decision that the cancel won, at `version` of the job's render stream."""
    revoked = CalendarRevoked(task_id=task_id, revoked_at=NOW)
    return wrap(
        revoked,
        stream_id=render_stream_id(task_id),
        stream_version=version,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )


def task_of(envelope: Envelope) -> UUID:
    """The job a calendar event's envelope is about."""
    assert isinstance(envelope.data, CalendarFact), envelope.type
    return envelope.data.task_id


def delivery(
    receive_count: int = 1, max_receive_count: int = 3, message_id: str = "m-1"
) -> Delivery:
    """What SQS says of a receipt: the first of three allowed, unless told otherwise."""
    return Delivery(message_id, "r-1", receive_count, max_receive_count)


def job_events(jobs: int) -> list[Envelope]:
    """Each job's request and its outcome, job after job."""
    envelopes = []
    for _ in range(jobs):
        requested = calendar_envelope(calendar_requested(todo_snapshots(2)))
        task_id = task_of(requested)
        ready = CalendarReady(
            task_id=task_id, blob_key="k", size_bytes=1, sha256="s", event_count=2
        )
        envelopes += [
            requested,
            wrap(
                ready,
                stream_id=render_stream_id(task_id),
                stream_version=1,
                origin=ANONYMOUS_ORIGIN,
            ),
        ]
    return envelopes
