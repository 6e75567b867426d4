"""The event catalogue: every fact any service records or publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.contracts.todo_refs import REFS_PATTERN


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TodoSnapshot(Fact):
    """A todo as the API shows it; also the unit of a calendar snapshot."""

    id: int
    title: str
    description: str | None
    completed: bool
    deadline_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TodoCreated(Fact):
    type: Literal["TodoCreated"] = "TodoCreated"
    todo: TodoSnapshot


class TodoUpdated(Fact):
    """The whole todo after the change, and which fields changed."""

    type: Literal["TodoUpdated"] = "TodoUpdated"
    todo: TodoSnapshot
    changed: tuple[str, ...]


class TodoDeleted(Fact):
    type: Literal["TodoDeleted"] = "TodoDeleted"
    id: int
    deleted_at: datetime


class CalendarFact(Fact):
    """An event about one calendar job, which its `task_id` names.

    `type` is declared here only to keep the JSON's key order: pydantic puts a base's fields
    first, and every calendar event has always been written `type`, `task_id`, then its own."""

    type: str
    task_id: UUID


class CalendarRequested(CalendarFact):
    """A calendar job; `todos` is the snapshot, or None when it sits in the blob store or (in
    todo_api's own log) is kept as `todo_refs` only."""

    type: Literal["CalendarRequested"] = "CalendarRequested"
    requested_at: datetime
    todo_count: int
    todos: tuple[TodoSnapshot, ...] | None = None
    # claim check: the blob key of a snapshot too large for an SNS message
    snapshot_key: str | None = None
    # the snapshot by reference: which version of which todo of todo_api's log (todo_refs.py);
    # todo_api's log keeps these instead of the todos, which the todo streams hold already
    todo_refs: str | None = Field(default=None, pattern=REFS_PATTERN)


class CalendarStarted(CalendarFact):
    type: Literal["CalendarStarted"] = "CalendarStarted"
    attempt: int


class CalendarProgress(CalendarFact):
    """How far a large calendar's render has got: `done` of its `total` todos, on `attempt`."""

    type: Literal["CalendarProgress"] = "CalendarProgress"
    attempt: int
    done: int
    total: int


class CalendarReady(CalendarFact):
    type: Literal["CalendarReady"] = "CalendarReady"
    blob_key: str
    size_bytes: int
    sha256: str
    event_count: int


class CalendarFailed(CalendarFact):
    type: Literal["CalendarFailed"] = "CalendarFailed"
    reason: str
    attempts: int


class CalendarCancelled(CalendarFact):
    """The client asked to cancel the job. Whether the cancel wins over the render is the
    worker's to decide: CalendarRevoked if it does, the job's outcome if the render ended first."""

    type: Literal["CalendarCancelled"] = "CalendarCancelled"
    cancelled_at: datetime


class CalendarRevoked(CalendarFact):
    """The cancel won: the job was not rendered, or its render stopped and stored nothing. The
    worker records it in the job's render stream, where it and an outcome compete for one
    version, so a job has exactly one of CalendarReady, CalendarFailed and CalendarRevoked."""

    type: Literal["CalendarRevoked"] = "CalendarRevoked"
    revoked_at: datetime


class IdempotencyKeyUsed(Fact):
    """A client's Idempotency-Key answered a request: which request (its digest) and with what
    (the todo or the calendar job it made, and the status), so a retry gets the same answer."""

    type: Literal["IdempotencyKeyUsed"] = "IdempotencyKeyUsed"
    key: str
    request_sha256: str
    status: int
    todo_id: int | None = None
    task_id: UUID | None = None
    used_at: datetime


class ApiKeyIssued(Fact):
    """An operator made an API key: who it acts as (tenant, roles), what it is for (label), and
    the hash of its secret, never the secret itself. Kept in todo_api's log, and published to the
    job tracker, which authenticates its own routes with the keys."""

    type: Literal["ApiKeyIssued"] = "ApiKeyIssued"
    key_id: str
    tenant: str
    roles: tuple[str, ...]
    label: str
    secret_sha256: str
    issued_by: str
    issued_at: datetime


class ApiKeyRevoked(Fact):
    """An operator revoked an API key: it is refused from then on."""

    type: Literal["ApiKeyRevoked"] = "ApiKeyRevoked"
    key_id: str
    revoked_by: str
    revoked_at: datetime


class FeedSecretIssued(Fact):
    """A member gave its tenant (the envelope's) a new calendar feed URL, which replaces any
    earlier one: the hash of the URL's secret, never the secret itself. Kept in todo_api's log."""

    type: Literal["FeedSecretIssued"] = "FeedSecretIssued"
    secret_sha256: str
    issued_at: datetime


class FeedSecretRevoked(Fact):
    """A member revoked its tenant's calendar feed URL: it is found no more."""

    type: Literal["FeedSecretRevoked"] = "FeedSecretRevoked"
    revoked_at: datetime


class DeadLetterDiscarded(Fact):
    """An operator discarded a dead letter for good, saying why: which DLQ and message, what
    it held (its body, so nothing is lost with it) and the failure that put it there. Kept in
    todo_api's log, on the message's own stream, so a discard repeated after a crash is one."""

    type: Literal["DeadLetterDiscarded"] = "DeadLetterDiscarded"
    queue: str
    message_id: str
    event_type: str
    event_id: UUID | None
    failure: str
    reason: str
    body: str
    discarded_at: datetime


AnyEvent = Annotated[
    TodoCreated
    | TodoUpdated
    | TodoDeleted
    | CalendarRequested
    | CalendarStarted
    | CalendarProgress
    | CalendarReady
    | CalendarFailed
    | CalendarCancelled
    | CalendarRevoked
    | IdempotencyKeyUsed
    | ApiKeyIssued
    | ApiKeyRevoked
    | FeedSecretIssued
    | FeedSecretRevoked
    | DeadLetterDiscarded,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
CALENDAR_EVENT_TYPES = (
    "CalendarRequested",
    "CalendarStarted",
    "CalendarProgress",
    "CalendarReady",
    "CalendarFailed",
    "CalendarCancelled",
    "CalendarRevoked",
)
API_KEY_EVENT_TYPES = ("ApiKeyIssued", "ApiKeyRevoked")
FEED_SECRET_EVENT_TYPES = ("FeedSecretIssued", "FeedSecretRevoked")
# the events that end a calendar job, decided in its render stream: a job has one of them at most
OUTCOME_EVENTS = frozenset({"CalendarReady", "CalendarFailed", "CalendarRevoked"})


def calendar_task_id(event: AnyEvent) -> UUID | None:
    """The calendar job an event is about (None: not a calendar event)."""
    return event.task_id if isinstance(event, CalendarFact) else None
