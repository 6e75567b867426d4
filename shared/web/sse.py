"""Server-Sent Events on the wire (the WHATWG HTML standard, "Server-sent events"): the headers
of a stream, an event with its id, and the comment line that keeps an idle stream open."""

from __future__ import annotations

from shared.web.openapi import Query

LAST_EVENT_ID = "Last-Event-ID"
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    # a proxy neither caches nor holds back what a stream sends (nginx reads X-Accel-Buffering)
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
# how a route documents the header a reconnecting client sends
RESUME_HEADER = Query(
    LAST_EVENT_ID,
    "the id of the last event received: what has not changed since is not sent again",
    {"type": "string"},
    where="header",
)
# a comment: clients ignore it, but it is traffic, so no idle timeout cuts the connection
KEEPALIVE = b": keep-alive\n\n"


def sse_event(event_id: str, data: str) -> bytes:
    """One event: its id (a client sends it back as Last-Event-ID) and its data, a line each."""
    if any(char in event_id for char in "\r\n\0"):
        raise ValueError(f"an event id is one line without NUL: {event_id!r}")
    lines = [f"id: {event_id}", *(f"data: {line}" for line in data.splitlines() or [""])]
    return ("\n".join(lines) + "\n\n").encode()
