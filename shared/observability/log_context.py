"""What a log line is about, as fields: the request, job, event and message being handled.

They are bound where work enters a service (a request in shared/observability/tracing.py's
middleware, a calendar job in todo_api's view, a message in shared/messaging/consumer.py) and kept
in a context variable, so every line logged while handling it carries them and no log call names
them. aiohttp handles each request, and the consumer each message, in a task of its own: what is
bound there ends with that task (the request's access log line included).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType

# in the order a JSON line lists them
FIELDS = (
    "service",
    "request_id",
    "trace_id",
    "task_id",
    "correlation_id",
    "event_id",
    "event_type",
    "message_id",
)
_KNOWN = frozenset(FIELDS)
_NOTHING: Mapping[str, object] = MappingProxyType({})
_bound: ContextVar[Mapping[str, object]] = ContextVar("log_context")


def bind(**fields: object) -> None:
    """Add fields (from FIELDS; None leaves one out) to the lines logged from here on in this
    task and in the tasks it starts. Values are turned into text only when a line is written."""
    if not _KNOWN.issuperset(fields):
        unknown = ", ".join(sorted(fields.keys() - _KNOWN))
        raise ValueError(f"not a log field: {unknown}")
    given = {name: value for name, value in fields.items() if value is not None}
    _bound.set({**_bound.get(_NOTHING), **given})


def bound() -> Mapping[str, object]:
    """The fields bound in this context."""
    return _bound.get(_NOTHING)


class ContextFilter(logging.Filter):
    """Put the bound fields on each record as attributes; one passed as `extra=` is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _bound.get(_NOTHING).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
