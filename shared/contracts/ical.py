"""Todos as an iCalendar file (RFC 5545), written line by line and streamed in chunks.

The text is written directly rather than through icalendar's component tree: the tree costs
seconds and hundreds of MB for 100,000 todos. The unit tests hold this output to icalendar's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice

from shared.contracts.events import TodoSnapshot

PRODUCT_ID = "-//Taskoverflow Calendar//mxm.dk//"
# about 100 KB per chunk: few writes, and memory stays flat however many todos there are
EVENTS_PER_CHUNK = 500
MAX_LINE_OCTETS = 75

_HEADER = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{PRODUCT_ID}\r\n".encode()
_FOOTER = b"END:VCALENDAR\r\n"
_FOLD = b"\r\n "

# RFC 5545 3.3.11: controls other than TAB cannot appear in TEXT, so they are dropped (they
# are invisible anyway); CR and CRLF become the LF that TEXT escapes; a lone surrogate cannot
# be written as UTF-8, so it becomes U+FFFD.
_UNSAFE = re.compile("\r\n?|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SAFE_REPLACEMENTS = {"\r\n": "\n", "\r": "\n"} | {
    chr(code): "" for code in [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]
}


def render_calendar(todos: Iterable[TodoSnapshot], stamp: datetime) -> Iterator[bytes]:
    """Yield the calendar in chunks, one VEVENT per todo in the given order.

    `stamp` becomes every DTSTAMP: pass the job's request time so a replay is byte-identical.
    """
    dtstamp = f"DTSTAMP:{_utc_text(stamp)}\r\n".encode()
    yield _HEADER
    for batch in _batches(todos, EVENTS_PER_CHUNK):
        yield b"".join(_render_event(todo, dtstamp) for todo in batch)
    yield _FOOTER


def render_calendar_bytes(todos: Iterable[TodoSnapshot], stamp: datetime) -> bytes:
    """The whole calendar at once; for small calendars."""
    return b"".join(render_calendar(todos, stamp))


def escape_text(value: str) -> str:
    # isprintable() is False for everything _UNSAFE matches, and True for most titles: a fast skip
    if not value.isprintable():
        value = _UNSAFE.sub(_safe_replacement, value)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold_line(line: bytes) -> bytes:
    """Split a content line into 75-octet lines, never inside a UTF-8 character."""
    pieces = []
    start, limit = 0, MAX_LINE_OCTETS
    while len(line) - start > limit:
        end = start + limit
        # 0b10xxxxxx is a UTF-8 continuation byte: cut before the character it belongs to
        while line[end] & 0xC0 == 0x80:
            end -= 1
        pieces.append(line[start:end])
        # a continuation line starts with a space, which counts towards its 75 octets
        start, limit = end, MAX_LINE_OCTETS - 1
    pieces.append(line[start:])
    return _FOLD.join(pieces)


def _render_event(todo: TodoSnapshot, dtstamp: bytes) -> bytes:
    description = b""
    if todo.description is not None:
        description = _text_line("DESCRIPTION", todo.description)
    return b"".join(
        (
            b"BEGIN:VEVENT\r\n",
            f"UID:{todo.id}\r\n".encode(),
            _text_line("SUMMARY", todo.title),
            description,
            _start_line(todo),
            dtstamp,
            b"END:VEVENT\r\n",
        )
    )


def _text_line(name: str, value: str) -> bytes:
    line = f"{name}:{escape_text(value)}".encode()
    if len(line) > MAX_LINE_OCTETS:
        line = fold_line(line)
    return line + b"\r\n"


def _start_line(todo: TodoSnapshot) -> bytes:
    # RFC 5545 requires DTSTART here, so a todo without a deadline is an all-day event
    # on the day it was created rather than a failed job
    if todo.deadline_at is None:
        return f"DTSTART;VALUE=DATE:{_basic_iso(todo.created_at.date().isoformat())}\r\n".encode()
    return f"DTSTART:{_floating_text(todo.deadline_at)}\r\n".encode()


def _floating_text(moment: datetime) -> str:
    return _basic_iso(moment.isoformat()[:19])


def _utc_text(moment: datetime) -> str:
    # the project's naive datetimes are UTC (shared/clock.py)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return _floating_text(moment) + "Z"


def _basic_iso(extended: str) -> str:
    """2023-04-03T14:00:00 -> 20230403T140000, the form RFC 5545 uses."""
    return extended.replace("-", "").replace(":", "")


def _safe_replacement(match: re.Match[str]) -> str:
    return _SAFE_REPLACEMENTS.get(match.group(), "\ufffd")


def _batches(items: Iterable[TodoSnapshot], size: int) -> Iterator[list[TodoSnapshot]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
