"""What the tracker keeps of an event in its own log: a calendar request without its snapshot.

The fold reads a request's time and todo count only. The todos live in todo_api's log (and a
large calendar's in the blob store, whose key is kept), so a copy here would cost about 220
bytes a todo for every job and serve no one; so would the references to them (up to a few
bytes a todo), which only todo_api's log can resolve. Requests stored before keep their
snapshot; the fold and a rebuild read both alike.
"""

from __future__ import annotations

from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarRequested


def as_kept(envelope: Envelope) -> Envelope:
    """The envelope the tracker stores for `envelope`: the same event, id and all, but a
    calendar request's inline todos, and their references into todo_api's log, are left out."""
    event = envelope.data
    if not isinstance(event, CalendarRequested) or (event.todos, event.todo_refs) == (None, None):
        return envelope
    slim = event.model_copy(update={"todos": None, "todo_refs": None})
    return envelope.model_copy(update={"data": slim})
