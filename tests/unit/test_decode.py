"""Decoding queue messages: anything unreadable is a poison message, never a crash."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from shared.contracts.envelope import wrap
from shared.contracts.events import CalendarStarted
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.messaging.batching import MAX_MESSAGE_BYTES
from shared.messaging.consumer import PoisonMessageError, decode


def valid_body() -> str:
    event = CalendarStarted(task_id=uuid4(), attempt=1)
    return wrap(event, stream_id="render-x", stream_version=1, origin=ANONYMOUS_ORIGIN).to_json()


def test_a_valid_envelope_decodes_to_its_event() -> None:
    envelope = decode(valid_body())
    assert isinstance(envelope.data, CalendarStarted)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        json.dumps({**json.loads(valid_body()), "type": "Nonsense"}),
        json.dumps({**json.loads(valid_body()), "type": "CalendarReady"}),
        json.dumps({**json.loads(valid_body()), "stream_version": 0}),
    ],
    ids=["empty", "not-json", "not-an-object", "unknown-type", "type-mismatch", "bad-field"],
)
def test_unreadable_bodies_are_poison(body: str) -> None:
    with pytest.raises(PoisonMessageError):
        decode(body)


def test_a_body_over_the_message_size_limit_is_poison_before_parsing() -> None:
    body = valid_body()[:-1] + ', "padding": "' + "x" * MAX_MESSAGE_BYTES + '"}'
    with pytest.raises(PoisonMessageError, match="size limit"):
        decode(body)
