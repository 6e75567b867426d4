"""The steps every service's schema upgrade shares: run once at start, under the schema lock.

A service's `upgrade.py` decides what its version change does; this module finds the version,
serialises replicas that start together, and waits for a database that is not up yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.eventstore.database import (
    SCHEMA_LOCK_ID,
    create_engine,
    is_unreachable,
    server_address,
)
from shared.retry import wait_for
from shared.settings import Settings


async def run_upgrade(
    settings: Settings, upgrade: Callable[[AsyncEngine], Awaitable[bool]]
) -> None:
    """Run `upgrade` on the service's database, waiting for one that is not up yet, as opening
    the store does after it."""
    engine = create_engine(settings)

    async def attempt() -> None:
        await upgrade(engine)

    is_transient = _never if settings.is_sqlite else is_unreachable
    try:
        await wait_for(attempt, what=server_address(settings), is_transient=is_transient)
    finally:
        await engine.dispose()


async def lock_schema(conn: AsyncConnection) -> None:
    """Take the lock ensure_schema takes, so replicas started together upgrade in turn."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": SCHEMA_LOCK_ID}
        )
    else:
        # the driver begins a transaction only before DML: begin it now, so the DDL is inside
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def stored_version(conn: AsyncConnection, owner: str) -> int | None:
    """The owner's schema version in the database (None: it has no tables yet)."""
    table = _versions_table(owner)
    if not await conn.run_sync(lambda sync: inspect(sync).has_table(table)):
        return None
    found = (await conn.execute(text(f"SELECT version FROM {table}"))).scalar_one_or_none()
    return None if found is None else int(found)


async def set_version(conn: AsyncConnection, owner: str, version: int) -> None:
    await conn.execute(
        text(f"UPDATE {_versions_table(owner)} SET version = :version"), {"version": version}
    )


def _versions_table(owner: str) -> str:
    # the name ensure_schema gives it; owners are our own identifiers, never input
    return f"{owner}_schema_version"


def _never(_exc: BaseException) -> bool:
    return False
