"""An Idempotency-Key's uses are deleted from the log once no request can need them.

A key answers with its first answer for KEY_WINDOW after its last use, then starts afresh, so an
older use only takes room. The cleaner (shared/eventstore/expiry.py) deletes uses older than the
window and a margin, found through a partial index on their time (tables.py), never by reading
the rest of the log.

Uses are deleted one by one, not whole streams: a batch may take part of a stream. That is safe
because a use is appended after the stream's last version (records.py `KeyUses.version`), never
after a count of what is left, and because a request holds the uses it read against deletion
until it commits (FOR KEY SHARE on PostgreSQL; SQLite has one writer): two requests that race
with the key both decide on the same uses, and so conflict on the same version.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, Table

from services.todo_api.idempotency import KEY_WINDOW
from shared.eventstore.expiry import ExpiringRows, expiring_events
from shared.eventstore.store import of_types
from shared.settings import Settings

KEY_USED = "IdempotencyKeyUsed"
# beyond the window: an instance whose clock runs a little behind, or a request that read a use
# just before its window ended and is about to answer with it, still finds it
MARGIN = timedelta(hours=1)
LABEL = "todo_api_key_uses"


def key_use_window(settings: Settings) -> timedelta:
    """How long a key's uses are kept: the key's window and the margin, unless a test says."""
    if settings.idempotency_expiry_s is not None:
        return timedelta(seconds=settings.idempotency_expiry_s)
    return KEY_WINDOW + MARGIN


def is_key_use(events: Table) -> ColumnElement[bool]:
    """The key uses among the log's events, as the partial index on their time names them."""
    return of_types(events, [KEY_USED])


def expiring_key_uses(events: Table, window: timedelta, dialect: str) -> ExpiringRows:
    """The key uses `window` old, by the time they were stored."""
    return expiring_events(events, window, [KEY_USED], dialect=dialect, label=LABEL)
