"""An event carries the trace context of the span that made it, stored in its envelope, so the
services that handle it later continue the same trace; events without one read as before."""

from __future__ import annotations

import json
from uuid import uuid4

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared.contracts.envelope import Envelope, stored_traceparent, wrap
from shared.contracts.events import CalendarStarted
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.contracts.trace_context import current_traceparent, parent_context
from tests.support.factories import calendar_envelope, calendar_requested, todo_snapshots

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def inside_span() -> trace.Span:
    context = SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    return NonRecordingSpan(context)


def started() -> Envelope:
    return wrap(
        CalendarStarted(task_id=uuid4(), attempt=1),
        stream_id="render-x",
        stream_version=1,
        origin=ANONYMOUS_ORIGIN,
    )


class TestStamping:
    def test_an_event_made_inside_a_span_carries_its_traceparent(self) -> None:
        with trace.use_span(inside_span()):
            envelope = started()

        assert envelope.traceparent == TRACEPARENT
        assert json.loads(envelope.to_json())["traceparent"] == TRACEPARENT

    def test_an_event_made_outside_any_span_has_none_and_its_json_no_such_field(self) -> None:
        envelope = started()

        assert envelope.traceparent is None
        assert "traceparent" not in json.loads(envelope.to_json())

    def test_an_envelope_stored_before_the_field_existed_reads_unchanged(self) -> None:
        stored = started().to_json()

        assert Envelope.from_json(stored).to_json() == stored

    def test_the_traceparent_survives_the_round_trip_through_json(self) -> None:
        with trace.use_span(inside_span()):
            envelope = started()

        assert Envelope.from_json(envelope.to_json()) == envelope


class TestReadingTheStoredContext:
    def test_is_read_from_the_body_without_parsing_it(self) -> None:
        with trace.use_span(inside_span()):
            body = calendar_envelope(calendar_requested(todo_snapshots(500))).to_json()

        assert len(body) > 50_000
        assert stored_traceparent(body) == TRACEPARENT

    def test_text_inside_the_event_that_looks_like_the_field_is_not_taken_for_it(self) -> None:
        decoy = '"traceparent":"00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"'
        todos = todo_snapshots(1, title="x", description=decoy)

        body = calendar_envelope(calendar_requested(todos)).to_json()

        assert decoy.replace('"', '\\"') in body
        assert stored_traceparent(body) is None

    def test_a_body_without_one_has_none(self) -> None:
        assert stored_traceparent(started().to_json()) is None
        assert stored_traceparent("not json") is None


class TestContinuing:
    def test_a_received_traceparent_becomes_the_parent_of_the_next_span(self) -> None:
        parent = trace.get_current_span(parent_context(TRACEPARENT)).get_span_context()

        assert (parent.trace_id, parent.span_id, parent.is_remote) == (TRACE_ID, SPAN_ID, True)

    def test_a_malformed_or_missing_traceparent_starts_a_new_trace(self) -> None:
        for given in (None, "", "00-zz-yy-01", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"):
            context = parent_context(given)
            assert not trace.get_current_span(context).get_span_context().is_valid

    def test_outside_any_span_there_is_no_current_traceparent(self) -> None:
        assert current_traceparent() is None
