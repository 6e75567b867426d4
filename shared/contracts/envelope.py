"""The envelope every event travels in, on disk and on the wire."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator

from shared.clock import utcnow
from shared.contracts.events import AnyEvent
from shared.contracts.tenancy import MAX_NAME_CHARS, Origin
from shared.contracts.trace_context import TRACEPARENT, current_traceparent
from shared.contracts.upcasting import UPCASTERS

# version 2: a CalendarCancelled asks, a CalendarRevoked decides; version 3: every event names its
# tenant and actor (shared/contracts/upcasting.py)
CURRENT_SCHEMA_VERSION = 3
# the envelope's fields before `data` take a few hundred characters: its trace context is there
_HEAD_CHARS = 1024
_TRACEPARENT_KEY = f'"{TRACEPARENT}":"'
# what the head of an envelope written at the current version holds: such an envelope needs no
# upcasting, and skips the extra parse that takes (the fields before it take some 130 characters)
_CURRENT_MARK = f'"schema_version":{CURRENT_SCHEMA_VERSION},'
_CURRENT_MARK_BYTES = _CURRENT_MARK.encode()


def _is_none(value: object) -> bool:
    return value is None


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID
    type: str
    schema_version: int = Field(default=CURRENT_SCHEMA_VERSION, ge=1)
    occurred_at: datetime
    stream_id: str = Field(min_length=1, max_length=200)
    stream_version: int = Field(ge=1)
    # the calendar task id for calendar events: one id follows a job through every service
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    # W3C trace context of the span that made the event (shared/contracts/trace_context.py), so the
    # services that handle it continue one trace. Optional: events stored without it (older
    # ones, imports, events made outside any span) omit the field and read as before
    traceparent: str | None = Field(default=None, exclude_if=_is_none)
    # whose data the event is, and who acted (shared/contracts/tenancy.py); after the trace
    # context, whose place in the head `stored_traceparent` counts on
    tenant: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    actor: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    # serialized as the event's own class, which it always is once validated: the same JSON
    # as the discriminated union's serializer at about half its cost for a large event
    data: SerializeAsAny[AnyEvent]

    @model_validator(mode="after")
    def _type_matches_data(self) -> Envelope:
        if self.type != self.data.type:
            raise ValueError(f"envelope type {self.type!r} does not match data type")
        return self

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Parse an envelope, upcasting an older schema version to the current one."""
        if _is_current(text):
            # written by this version: the hot path skips the extra parse an upcast needs
            return cls.model_validate_json(text)
        try:
            raw = json.loads(text)
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            # let pydantic report what is wrong, as a ValidationError like any bad message
            return cls.model_validate_json(text)
        return cls.model_validate(UPCASTERS.upcast(raw, CURRENT_SCHEMA_VERSION))


def _is_current(text: str | bytes) -> bool:
    if isinstance(text, str):
        return _CURRENT_MARK in text[:_HEAD_CHARS]
    return _CURRENT_MARK_BYTES in text[:_HEAD_CHARS]


def wrap(
    event: AnyEvent,
    *,
    stream_id: str,
    stream_version: int,
    origin: Origin,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
) -> Envelope:
    """Put a new event in a fresh envelope, in the trace of the span at hand, with the tenant
    and actor of `origin`."""
    return Envelope(
        event_id=uuid4(),
        type=event.type,
        occurred_at=utcnow(),
        stream_id=stream_id,
        stream_version=stream_version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        traceparent=current_traceparent(),
        tenant=origin.tenant,
        actor=origin.actor,
        data=event,
    )


def stored_traceparent(body: str) -> str | None:
    """The `traceparent` of an envelope's JSON, read from its head without parsing the body.

    The field comes before `data` in every envelope this module writes, and inside a JSON
    string a quote is always escaped, so the first match in the head is the envelope's own.
    """
    start = body.find(_TRACEPARENT_KEY, 0, _HEAD_CHARS)
    if start < 0:
        return None
    start += len(_TRACEPARENT_KEY)
    end = body.find('"', start, start + 256)
    return body[start:end] if end > start else None
