"""The envelope every event travels in, on disk and on the wire."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.clock import utcnow
from shared.events import AnyEvent
from shared.upcasting import UPCASTERS

CURRENT_SCHEMA_VERSION = 1


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
    data: AnyEvent

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
        if not UPCASTERS:
            # no older shape is registered: skip the extra parse on the hot path
            return cls.model_validate_json(text)
        try:
            raw = json.loads(text)
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            # let pydantic report what is wrong, as a ValidationError like any bad message
            return cls.model_validate_json(text)
        return cls.model_validate(UPCASTERS.upcast(raw, CURRENT_SCHEMA_VERSION))


def wrap(
    event: AnyEvent,
    *,
    stream_id: str,
    stream_version: int,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
) -> Envelope:
    """Put a new event in a fresh envelope."""
    return Envelope(
        event_id=uuid4(),
        type=event.type,
        occurred_at=utcnow(),
        stream_id=stream_id,
        stream_version=stream_version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=event,
    )
