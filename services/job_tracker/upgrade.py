"""Bring job_tracker tables of schema version 1 to 3 up to this code's version before they are
opened, each version's step in turn.

Version 4 dates each inbox row (`handled_at`, so it can expire once no duplicate can arrive;
rows there count as handled at the upgrade).
Version 3 gives each job its tenant: jobs recorded before tenancy are the anonymous tenant's,
whose history indexes begin with the tenant now; the API keys table is new (empty: keys reach the
tracker as todo_api publishes their events).
Version 2 gives each job its `finished_at` (a calendar's age counts from it), filled in from the
outcome events in the tracker's own log, columns for a render's progress (empty), and the
history's indexes; the lost-results table is new.
A database without tables, or one already upgraded, is left alone; so is one of any other version,
which `ensure_schema` refuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import Update, and_, func, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.job_tracker.jobs import TERMINAL
from services.job_tracker.tables import OWNER, SCHEMA_VERSION, jobs, store
from shared.app.app_keys import adapters_key, settings_key
from shared.clock import utcnow
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.eventstore.schema_upgrade import lock_schema, run_upgrade, set_version, stored_version
from shared.messaging.inbox import add_handled_at
from shared.settings import Settings

logger = logging.getLogger(__name__)
UPGRADES_FROM = (1, 2, 3)
# the jobs columns version 2 adds, all nullable: the outcome's time and a render's progress
NEW_COLUMNS = ("finished_at", "progress_done", "progress_total")
# the jobs column version 3 adds: whose job it is
TENANT_COLUMNS = ("tenant",)
# what a column added to the rows there are holds (SQL literals: our own constants, never input)
FILLED_WITH = {"tenant": ANONYMOUS_TENANT}
# the history's indexes of version 2, over all tenants' jobs: version 3's begin with the tenant
VERSION_2_INDEXES = (f"ix_{OWNER}_jobs_requested", f"ix_{OWNER}_jobs_state_requested")
# the events that ended a job in a version-1 database (its cancels ended jobs, and are stored so)
VERSION_1_OUTCOMES = ("CalendarCancelled", "CalendarFailed", "CalendarReady")


async def upgrade_ctx(app: web.Application) -> AsyncIterator[None]:
    """Upgrade the service's database before `database_ctx` checks its version."""
    # a store handed in is the caller's: its tables are made by whoever made it
    if app[adapters_key].store is None:
        await upgrade_database(app[settings_key])
    yield


async def upgrade_database(settings: Settings) -> None:
    await run_upgrade(settings, upgrade)


async def upgrade(engine: AsyncEngine) -> bool:
    """Upgrade version 1 to 3 tables in one transaction; False when there was nothing to do."""
    async with engine.begin() as conn:
        await lock_schema(conn)
        found = await stored_version(conn, OWNER)
        if found not in UPGRADES_FROM:
            return False
        await conn.run_sync(lambda sync: _add_columns(sync, NEW_COLUMNS + TENANT_COLUMNS))
        if found == 1:
            await conn.execute(_backfill_finished_at())
        await conn.run_sync(_replace_indexes)
        now = utcnow()
        await conn.run_sync(lambda sync: add_handled_at(sync, store.inbox, now))
        await set_version(conn, OWNER, SCHEMA_VERSION)
    logger.info("%s tables upgraded from version %d to %d", OWNER, found, SCHEMA_VERSION)
    return True


def _add_columns(conn: Connection, names: tuple[str, ...]) -> None:
    """Add the columns the table lacks; those that must hold a value are filled with theirs."""
    present = {column["name"] for column in inspect(conn).get_columns(jobs.name)}
    for name in names:
        if name in present:
            continue
        column_type = jobs.c[name].type.compile(dialect=conn.dialect)
        filled = f" NOT NULL DEFAULT '{FILLED_WITH[name]}'" if name in FILLED_WITH else ""
        conn.execute(text(f"ALTER TABLE {jobs.name} ADD COLUMN {name} {column_type}{filled}"))


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


def _replace_indexes(conn: Connection) -> None:
    """This version's indexes, without version 2's history indexes they replace."""
    present = {index["name"] for index in inspect(conn).get_indexes(jobs.name)}
    for name in VERSION_2_INDEXES:
        if name in present:
            conn.execute(text(f"DROP INDEX {name}"))
    for index in jobs.indexes:
        index.create(conn, checkfirst=True)
