"""Bring job_tracker tables of schema version 1 up to this code's version before they are opened.

Version 2 gives each job its `finished_at` (a calendar's age counts from it), filled in from the
outcome events in the tracker's own log, columns for a render's progress (empty), and the
history's indexes; the lost-results table is new, and `ensure_schema` creates it like any missing
table. A database without tables, or one already upgraded, is left alone; so is one of any other
version, which `ensure_schema` refuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import Update, and_, func, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.job_tracker.jobs import TERMINAL
from services.job_tracker.tables import OWNER, SCHEMA_VERSION, jobs, store
from shared.app.app_keys import adapters_key, settings_key
from shared.eventstore.database import (
    SCHEMA_LOCK_ID,
    create_engine,
    is_unreachable,
    server_address,
)
from shared.retry import wait_for
from shared.settings import Settings

logger = logging.getLogger(__name__)
UPGRADES_FROM = 1
VERSIONS_TABLE = f"{OWNER}_schema_version"
# the jobs columns version 2 adds, all nullable: the outcome's time and a render's progress
NEW_COLUMNS = ("finished_at", "progress_done", "progress_total")
# the events that ended a job in a version-1 database (its cancels ended jobs, and are stored so)
VERSION_1_OUTCOMES = ("CalendarCancelled", "CalendarFailed", "CalendarReady")


async def upgrade_ctx(app: web.Application) -> AsyncIterator[None]:
    """Upgrade the service's database before `database_ctx` checks its version."""
    # a store handed in is the caller's: its tables are made by whoever made it
    if app[adapters_key].store is None:
        await upgrade_database(app[settings_key])
    yield


async def upgrade_database(settings: Settings) -> None:
    engine = create_engine(settings)

    async def attempt() -> None:
        await upgrade(engine)

    # waits for a database that is not up yet, as opening the store does after it
    is_transient = is_unreachable if not settings.is_sqlite else _never
    try:
        await wait_for(attempt, what=server_address(settings), is_transient=is_transient)
    finally:
        await engine.dispose()


async def upgrade(engine: AsyncEngine) -> bool:
    """Upgrade version 1 tables in one transaction; False when there was nothing to do."""
    async with engine.begin() as conn:
        await _lock(conn)
        if await _version(conn) != UPGRADES_FROM:
            return False
        await conn.run_sync(_add_new_columns)
        await conn.execute(_backfill_finished_at())
        await conn.run_sync(_create_indexes)
        await conn.execute(
            text(f"UPDATE {VERSIONS_TABLE} SET version = :version"), {"version": SCHEMA_VERSION}
        )
    logger.info("%s tables upgraded from version %d to %d", OWNER, UPGRADES_FROM, SCHEMA_VERSION)
    return True


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        # the lock ensure_schema takes: replicas started together upgrade one after the other
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": SCHEMA_LOCK_ID}
        )
    else:
        # the driver begins a transaction only before DML: begin it now, so the DDL is inside
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def _version(conn: AsyncConnection) -> int | None:
    if not await conn.run_sync(lambda sync: inspect(sync).has_table(VERSIONS_TABLE)):
        return None
    found = await conn.execute(text(f"SELECT version FROM {VERSIONS_TABLE}"))
    version = found.scalar_one_or_none()
    return None if version is None else int(version)


def _add_new_columns(conn: Connection) -> None:
    present = {column["name"] for column in inspect(conn).get_columns(jobs.name)}
    for name in NEW_COLUMNS:
        if name not in present:
            column_type = jobs.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {jobs.name} ADD COLUMN {name} {column_type}"))


def _backfill_finished_at() -> Update:
    """A finished job's outcome event dates it; a job whose event is not in the log (it came in
    by an import that skipped it, say) is dated by its row's last write."""
    events = store.events
    outcome_at = (
        select(func.min(events.c.occurred_at))
        .where(
            and_(
                events.c.correlation_id == jobs.c.task_id,
                events.c.type.in_(VERSION_1_OUTCOMES),
            )
        )
        .scalar_subquery()
    )
    return (
        update(jobs)
        .where(jobs.c.status.in_(sorted(TERMINAL)), jobs.c.finished_at.is_(None))
        .values(finished_at=func.coalesce(outcome_at, jobs.c.updated_at))
    )


def _create_indexes(conn: Connection) -> None:
    for index in jobs.indexes:
        index.create(conn, checkfirst=True)


def _never(_exc: BaseException) -> bool:
    return False
