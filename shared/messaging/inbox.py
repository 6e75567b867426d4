"""The inbox: which events each consumer has handled, so a redelivery changes nothing.

A consumer writes its inbox row in the same transaction as its projection; the row's key is
(consumer, event id), so the second delivery of an event finds it taken. A row is kept for the
duplicate window (topology.DUPLICATE_WINDOW_S) after the first delivery was handled: no copy of
the message can arrive later, so the expiry job may delete it then.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Insert, Table, bindparam, exists, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.eventstore.direct_writes import DirectWrite
from shared.eventstore.expiry import ExpiringRows
from shared.eventstore.upsert import insert_on_conflict


async def record_processed(
    conn: AsyncConnection, inbox: Table, consumer: str, event_id: UUID
) -> bool:
    """Write the inbox row; False when this consumer already handled the event."""
    row = inbox_row(consumer, event_id)
    statement = _insert_once(inbox, conn.dialect.name)
    return (await conn.execute(statement, row)).rowcount == 1


async def record_processed_unless_logged(
    conn: AsyncConnection, inbox: Table, log: Table, consumer: str, event_id: UUID
) -> bool:
    """Write the inbox row unless `log`, a table that keeps every event the consumer has handled,
    holds the event; False when the consumer handled it (an inbox row, or a log row that outlived
    its inbox row). One statement, where a write and a read would take two round trips."""
    row = inbox_row(consumer, event_id)
    return await _insert_unless_logged(inbox, log, conn.dialect.name).count(conn, row) == 1


def inbox_row(consumer: str, event_id: UUID) -> dict[str, object]:
    """The inbox row of `consumer` handling the event now."""
    return {"consumer": consumer, "event_id": str(event_id), "handled_at": utcnow()}


def expiring_inbox(inbox: Table, window: timedelta) -> ExpiringRows:
    """The inbox rows past the duplicate window (`window`: shorter only in tests)."""
    return ExpiringRows(inbox, inbox.c.handled_at, window)


def add_handled_at(conn: Connection, inbox: Table, now: datetime) -> None:
    """A schema upgrade's step: the inbox rows of older code get `handled_at`, the upgrade's
    time (they were handled before it, so they are kept at least as long as they need). An
    instance of older code still running meanwhile writes that time too: earlier than the truth
    by a rollout's minutes, which the window's redrive slack covers."""
    present = {column["name"] for column in inspect(conn).get_columns(inbox.name)}
    if "handled_at" in present:
        return
    column_type = inbox.c.handled_at.type.compile(dialect=conn.dialect)
    # a literal of our own clock's, never input: a DEFAULT cannot be a bound parameter
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    conn.execute(
        text(
            f"ALTER TABLE {inbox.name} ADD COLUMN handled_at {column_type} "
            f"NOT NULL DEFAULT '{stamp}'"
        )
    )
    for index in inbox.indexes:
        index.create(conn, checkfirst=True)


@functools.cache
def _insert_unless_logged(inbox: Table, log: Table, dialect_name: str) -> DirectWrite:
    # on every fold's path: written directly on SQLite
    event_id = bindparam("event_id", type_=inbox.c.event_id.type)
    row = select(
        bindparam("consumer", type_=inbox.c.consumer.type),
        event_id,
        bindparam("handled_at", type_=inbox.c.handled_at.type),
    ).where(~exists().where(log.c.event_id == event_id))
    # the SELECT has a WHERE: without one, SQLite could read ON CONFLICT as a join's ON
    return DirectWrite(
        insert_on_conflict(dialect_name, inbox).from_select(
            ["consumer", "event_id", "handled_at"], row
        )
    )


@functools.cache
def _insert_once(inbox: Table, dialect_name: str) -> Insert:
    # built once per table: a statement given its values at execution is compiled once and cached
    return insert_on_conflict(dialect_name, inbox)
