"""The inbox: which events each consumer has handled, so a redelivery changes nothing.

A consumer writes its inbox row in the same transaction as its projection; the row's key is
(consumer, event id), so the second delivery of an event finds it taken.
"""

from __future__ import annotations

import functools
from uuid import UUID

from sqlalchemy import Insert, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore.upsert import insert_on_conflict


async def record_processed(
    conn: AsyncConnection, inbox: Table, consumer: str, event_id: UUID
) -> bool:
    """Write the inbox row; False when this consumer already handled the event."""
    row = {"consumer": consumer, "event_id": str(event_id)}
    statement = _insert_once(inbox, conn.dialect.name)
    return (await conn.execute(statement, row)).rowcount == 1


@functools.cache
def _insert_once(inbox: Table, dialect_name: str) -> Insert:
    # built once per table: a statement given its values at execution is compiled once and cached
    return insert_on_conflict(dialect_name, inbox)
