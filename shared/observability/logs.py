"""One log format for every process: readable lines, or one JSON object a line (LOG_FORMAT).

Both carry what the line is about (shared/observability/log_context.py): the JSON object as
fields, the readable line as short tags at its end, `[task=1b2c3d4e event=5f3a9b1c msg=8d2e4f60]`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import TextIO

from shared.observability.log_context import FIELDS, ContextFilter
from shared.observability.redaction import RedactingFilter
from shared.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# the readable line's tags: field, its tag, and how many characters of the value it shows
# (ids are told apart by their first 8, as git tells commits apart)
_TAGS = (
    ("task_id", "task", 8),
    ("correlation_id", "corr", 8),
    ("event_id", "event", 8),
    ("message_id", "msg", 8),
    ("request_id", "req", 8),
)


class TextFormatter(logging.Formatter):
    """The readable line, with the record's context as tags after the message."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        tags = _tags(record)
        return f"{line} [{tags}]" if tags else line


def _tags(record: logging.LogRecord) -> str:
    values = {field: getattr(record, field, None) for field, _tag, _width in _TAGS}
    found = []
    for field, tag, width in _TAGS:
        value = values[field]
        # the correlation id of a calendar event is its task id: said once
        if value is not None and not (field == "correlation_id" and value == values["task_id"]):
            found.append(f"{tag}={str(value)[:width]}")
    return " ".join(found)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the context fields, and the
    exception's traceback if any."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    """Log at LOG_LEVEL to stderr, readable or (LOG_FORMAT=json) as JSON lines."""
    if settings.log_format == "json":
        # so that nothing a process writes to its log breaks the one-object-a-line rule
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
    logging.basicConfig(level=settings.log_level, handlers=[log_handler(settings)])
    # botocore's debug lines drown everything else
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)


def log_handler(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """The handler every line goes through: its context added, the feed URL secrets in its
    message masked (shared/observability/redaction.py), formatted as LOG_FORMAT says; written
    to `stream` (None: stderr)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonFormatter(settings.service_name) if json_lines else TextFormatter())
    return handler


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("uncaught").critical("uncaught %s", kind.__name__, exc_info=error)
