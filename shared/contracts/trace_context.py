"""W3C trace context as events carry it: a `traceparent` string in the envelope.

Only the OpenTelemetry API is needed here (no SDK), so the envelope can stamp new events with
the span at hand wherever they are made; shared/observability/tracing.py makes the spans.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def format_traceparent(context: trace.SpanContext) -> str:
    """The `traceparent` of a span: version 00, trace id, span id, flags."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def current_traceparent() -> str | None:
    """The `traceparent` of the span at hand, or None outside any span."""
    context = trace.get_current_span().get_span_context()
    return format_traceparent(context) if context.is_valid else None


def parent_context(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The context a span continues from a received `traceparent` (None: start a new trace).

    A malformed value is ignored as the W3C specification says: the span starts a new trace.
    """
    if not traceparent:
        return None
    carrier = {TRACEPARENT: traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _PROPAGATOR.extract(carrier)
