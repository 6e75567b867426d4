"""The job history: newest request first, a page at a time, after a cursor new jobs cannot shift.

The order is (requested_at, task_id), unique, and a page is the keyset after the last row of the
one before: jobs that arrive meanwhile sort before it and never push a row onto the next page
twice or past it. A job whose request the tracker has not seen yet has no place in that order
and is left out until it does.

A page holds one tenant's jobs only, whatever cursor it is given: a cursor is a place in the
order, and the next page is that tenant's jobs after it (its indexes begin with the tenant).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from services.job_tracker.jobs import Status
from services.job_tracker.retention import TRACKED_JOBS, TrackedJob, tracked_job
from services.job_tracker.tables import jobs

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# a cursor this API writes is about 60 characters
MAX_CURSOR_CHARS = 120
STATES = tuple(status.value for status in Status)


class BadHistoryQueryError(ValueError):
    """A query parameter the history cannot use; the message says which and why."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: its last job's sort key."""

    requested_at: datetime
    task_id: str


@dataclass(frozen=True)
class HistoryQuery:
    state: Status | None = None
    limit: int = DEFAULT_LIMIT
    after: Position | None = None


@dataclass(frozen=True)
class HistoryPage:
    jobs: list[TrackedJob]
    # where the next page starts; None on the last one
    next_after: Position | None


def history_query(params: Mapping[str, str]) -> HistoryQuery:
    """The query of `?state=&limit=&cursor=`, or BadHistoryQueryError."""
    state, limit, cursor = params.get("state"), params.get("limit"), params.get("cursor")
    if state is not None and state not in STATES:
        raise BadHistoryQueryError(f"state must be one of {', '.join(STATES)}")
    if limit is not None and not (_is_small_number(limit) and 1 <= int(limit) <= MAX_LIMIT):
        raise BadHistoryQueryError(f"limit must be a whole number between 1 and {MAX_LIMIT}")
    after = None if cursor is None else decode_cursor(cursor)
    return HistoryQuery(
        state=None if state is None else Status(state),
        limit=DEFAULT_LIMIT if limit is None else int(limit),
        after=after,
    )


async def history_page(conn: AsyncConnection, tenant: str, query: HistoryQuery) -> HistoryPage:
    """A page of the tenant's jobs."""
    statement = TRACKED_JOBS.where(jobs.c.tenant == tenant, jobs.c.requested_at.is_not(None))
    if query.state is not None:
        statement = statement.where(jobs.c.status == query.state.value)
    if query.after is not None:
        after = (query.after.requested_at, query.after.task_id)
        statement = statement.where(tuple_(jobs.c.requested_at, jobs.c.task_id) < tuple_(*after))
    # one more than the page: whether there is a next one
    statement = statement.order_by(jobs.c.requested_at.desc(), jobs.c.task_id.desc()).limit(
        query.limit + 1
    )
    rows = (await conn.execute(statement)).mappings().all()
    found = [tracked_job(row) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    return HistoryPage(found, _position(found[-1]) if more else None)


def _position(tracked: TrackedJob) -> Position:
    requested_at = tracked.job.requested_at
    assert requested_at is not None, "the history lists requested jobs only"
    return Position(requested_at, str(tracked.job.task_id))


def encode_cursor(position: Position) -> str:
    """Opaque to clients: they hand it back, and have no reason to read it."""
    raw = f"{position.requested_at.isoformat()}|{position.task_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    invalid = BadHistoryQueryError("cursor is not one this API gave out")
    if not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, task_id = raw.split("|")
        requested_at = datetime.fromisoformat(stamp)
        position = Position(requested_at, str(UUID(task_id)))
    except (ValueError, binascii.Error) as exc:
        raise invalid from exc
    # the column holds naive UTC; a zone would not compare with it
    if requested_at.tzinfo is not None:
        raise invalid
    return position


def _is_small_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 4
