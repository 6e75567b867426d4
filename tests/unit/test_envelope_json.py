"""An envelope's JSON: its event serialized as its own class is the JSON the discriminated
union's serializer writes, for every event type, and reads back to the same envelope."""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import AnyEvent
from shared.contracts.tenancy import ANONYMOUS_ORIGIN

EVENT_CLASSES: tuple[type[BaseModel], ...] = get_args(get_args(AnyEvent)[0])


class ThroughTheUnion(BaseModel):
    """The envelope's event as the union's own serializer writes it."""

    data: AnyEvent


@given(st.sampled_from(EVENT_CLASSES).flatmap(st.builds))
def test_every_event_in_an_envelope_is_written_as_the_union_writes_it(event: BaseModel) -> None:
    envelope = wrap(event, stream_id="stream-1", stream_version=1, origin=ANONYMOUS_ORIGIN)  # type: ignore[arg-type]
    written = envelope.to_json()

    union_written = ThroughTheUnion(data=event).model_dump_json()
    assert written.endswith(union_written.removeprefix("{"))
    assert Envelope.from_json(written) == envelope
