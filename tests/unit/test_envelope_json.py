"""An envelope's JSON: its event serialized as its own class is the JSON the discriminated
union's serializer writes, for every event type, and reads back to the same envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from shared.contracts.envelope import Envelope
from shared.contracts.events import AnyEvent

EVENT_CLASSES: tuple[type[BaseModel], ...] = get_args(get_args(AnyEvent)[0])


class ThroughTheUnion(BaseModel):
    """The envelope's event as the union's own serializer writes it."""

    data: AnyEvent


@given(st.sampled_from(EVENT_CLASSES).flatmap(st.builds))
def test_every_event_in_an_envelope_is_written_as_the_union_writes_it(event: BaseModel) -> None:
    envelope = Envelope(
        event_id=uuid4(),
        type=event.type,  # type: ignore[attr-defined]
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
        stream_id="stream-1",
        stream_version=1,
        tenant="tenant",
        actor="anonymous",
        data=event,
    )
    written = envelope.to_json()

    union_written = ThroughTheUnion(data=event).model_dump_json()
    assert written.endswith(union_written.removeprefix("{"))
    assert Envelope.from_json(written) == envelope
