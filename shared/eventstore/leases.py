"""Leases in the database: a named claim held by one holder until it runs out or is released.

The holder renews its lease while it works; if it dies, the lease runs out and someone else may
claim the name. Used for the one relay per outbox and the one render per calendar job.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Update,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore.upsert import insert_on_conflict


def lease_table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("name", String(64), primary_key=True),
        Column("holder", String(64), nullable=False),
        Column("expires_at", DateTime, nullable=False),
    )


async def claim(
    conn: AsyncConnection, table: Table, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease on `name` until now + ttl; False while another holder has it."""
    values = {"holder": holder, "expires_at": now + ttl}
    # one statement: insert the lease, or take it over when it is ours or has run out
    upsert = insert_on_conflict(
        conn,
        table,
        index_elements=[table.c.name],
        set_=values,
        where=(table.c.holder == holder) | (table.c.expires_at < now),
    ).values(name=name, **values)
    return (await conn.execute(upsert)).rowcount == 1


async def holder(conn: AsyncConnection, table: Table, name: str, now: datetime) -> str | None:
    """Who holds the lease on `name` (None: nobody, or it has run out), locked until the
    transaction ends, so it stays theirs until then."""
    query = select(table.c.holder, table.c.expires_at).where(table.c.name == name).with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None or row.expires_at < now else str(row.holder)


async def renew(
    conn: AsyncConnection, table: Table, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Extend the lease on `name` to now + ttl only if `holder` still has it (run out or not:
    nobody else took it); False once another holder took it or it was released."""
    extended = await conn.execute(_extend(table), {"lease": name, "by": holder, "until": now + ttl})
    return extended.rowcount == 1


@functools.cache
def _extend(table: Table) -> Update:
    # built once per table (a relay renews in every publish): compiled once and cached
    return (
        update(table)
        .where(table.c.name == bindparam("lease"), table.c.holder == bindparam("by"))
        .values(expires_at=bindparam("until"))
    )


async def expires_at(conn: AsyncConnection, table: Table, name: str) -> datetime | None:
    query = select(table.c.expires_at).where(table.c.name == name)
    return (await conn.execute(query)).scalar_one_or_none()


async def release(conn: AsyncConnection, table: Table, name: str, holder: str) -> None:
    await conn.execute(delete(table).where(table.c.name == name, table.c.holder == holder))
