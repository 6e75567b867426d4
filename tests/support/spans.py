"""Spans recorded in memory for the tests that look at traces."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.observability import tracing


@contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """Record every span of every service of this process while inside; each is exported as it
    ends."""
    exporter = InMemorySpanExporter()
    tracing.export_spans(exporter, batched=False)
    try:
        yield exporter
    finally:
        tracing.stop_exporting()


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def hex_id(number: int, digits: int) -> str:
    return f"{number:0{digits}x}"
