"""Bring todo_api tables of schema version 1 to 7 up to this code's version before they are
opened.

Version 8 gives each listed todo the version of its stream it shows (`stream_version`, filled
from the log), by which calendar requests name their snapshot.
Version 7 dates each inbox row (`handled_at`, so it can expire; rows there count as handled at
the upgrade).
Version 6 adds the rate limits' buckets (`todo_api_rate_buckets`, empty: every principal starts
with a full bucket). Version 5 adds the calendar feed URLs' projection (`todo_api_feed_secrets`,
empty: no older code issued feed URLs).
Version 4 keeps every todo per tenant: the list gets its `tenant` column and the (tenant, id)
index, and each tenant's list its own version (`todo_api_list_versions`). Everything stored
before belongs to the anonymous tenant: its rows are marked so, and the one list version moves
over as that tenant's, id and version kept, so the feed's tag does not change.
Version 3 adds the API keys projection (`todo_api_api_keys`, empty: no older code issued keys).
Version 2 adds the list version, the calendar feed's tag (list_version.py): its row is seeded
with a new id, version 0, and the time of the last todo event in the log.
A database without tables, or one already upgraded, is left alone; so is one of any other version,
which `ensure_schema` refuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    MetaData,
    String,
    Table,
    cast,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.todo_api.list_version import seed_list_version
from services.todo_api.tables import (
    OWNER,
    SCHEMA_VERSION,
    api_keys,
    feed_secrets,
    list_versions,
    rate_buckets,
    store,
    todos,
)
from shared.app.app_keys import adapters_key, settings_key
from shared.clock import utcnow
from shared.contracts.streams import TODO_PREFIX
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.eventstore.schema_upgrade import lock_schema, run_upgrade, set_version, stored_version
from shared.messaging.inbox import add_handled_at

logger = logging.getLogger(__name__)
UPGRADES_FROM = (1, 2, 3, 4, 5, 6, 7)
TODO_EVENT_TYPES = ("TodoCreated", "TodoUpdated", "TodoDeleted")

# versions 2 and 3: the one list's version, which held every todo (the anonymous tenant's)
single_list_version = Table(
    f"{OWNER}_list_version",
    MetaData(),
    Column("name", String(16), primary_key=True),
    Column("database_id", String(32), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("changed_at", DateTime, nullable=False),
)


async def upgrade_ctx(app: web.Application) -> AsyncIterator[None]:
    """Upgrade the service's database before `database_ctx` checks its version."""
    # a store handed in is the caller's: its tables are made by whoever made it
    if app[adapters_key].store is None:
        await run_upgrade(app[settings_key], upgrade)
    yield


async def upgrade(engine: AsyncEngine) -> bool:
    """Upgrade version 1 to 7 tables in one transaction, each version's step in turn; False
    when there was nothing to do."""
    async with engine.begin() as conn:
        await lock_schema(conn)
        found = await stored_version(conn, OWNER)
        if found not in UPGRADES_FROM:
            return False
        if found < 4:
            await _to_tenants(conn, found)
        await conn.run_sync(_create_new_tables)
        now = utcnow()
        await conn.run_sync(lambda sync: add_handled_at(sync, store.inbox, now))
        await conn.run_sync(_add_stream_version)
        await set_version(conn, OWNER, SCHEMA_VERSION)
    logger.info("%s tables upgraded from version %s to %d", OWNER, found, SCHEMA_VERSION)
    return True


def _create_new_tables(sync: Connection) -> None:
    """Versions 5 and 6: tables that start empty."""
    for table in (feed_secrets, rate_buckets):
        table.create(sync, checkfirst=True)


async def _to_tenants(conn: AsyncConnection, found: int) -> None:
    """Versions 2 to 4: the list version, the API keys, and every todo a tenant's."""
    await conn.run_sync(lambda sync: list_versions.create(sync, checkfirst=True))
    if found == 1:
        await seed_list_version(conn, ANONYMOUS_TENANT, await _last_change(conn) or utcnow())
    else:
        await _move_single_list_version(conn)
    await conn.run_sync(lambda sync: api_keys.create(sync, checkfirst=True))
    await conn.run_sync(_add_tenant_column)


async def _last_change(conn: AsyncConnection) -> datetime | None:
    events = store.events
    newest = select(func.max(events.c.occurred_at)).where(events.c.type.in_(TODO_EVENT_TYPES))
    found: datetime | None = (await conn.execute(newest)).scalar_one()
    return found


async def _move_single_list_version(conn: AsyncConnection) -> None:
    """The one list's version becomes the anonymous tenant's, with its id and version."""
    old = single_list_version
    await conn.execute(
        insert(list_versions).from_select(
            ["tenant", "list_id", "version", "changed_at"],
            select(
                literal(ANONYMOUS_TENANT, String(255)),
                old.c.database_id,
                old.c.version,
                old.c.changed_at,
            ),
        )
    )
    await conn.run_sync(old.drop)


def _add_stream_version(conn: Connection) -> None:
    """Version 8: each listed todo's stream version, counted from the log (a todo's events are
    its stream, numbered from 1, so the newest's number is the row's version)."""
    present = {column["name"] for column in inspect(conn).get_columns(todos.name)}
    if "stream_version" in present:
        return
    # the names are our own; a DDL statement takes no bound values
    conn.execute(
        text(f"ALTER TABLE {todos.name} ADD COLUMN stream_version INTEGER NOT NULL DEFAULT 0")
    )
    events = store.events
    newest = (
        select(func.max(events.c.stream_version))
        .where(events.c.stream_id == literal(TODO_PREFIX) + cast(todos.c.id, String))
        .scalar_subquery()
    )
    conn.execute(update(todos).values(stream_version=func.coalesce(newest, 0)))


def _add_tenant_column(conn: Connection) -> None:
    """Every todo listed so far is the anonymous tenant's; then the tenant's index."""
    present = {column["name"] for column in inspect(conn).get_columns(todos.name)}
    if "tenant" not in present:
        # the names are our own; a DDL statement takes no bound values
        conn.execute(
            text(
                f"ALTER TABLE {todos.name} ADD COLUMN tenant VARCHAR(255) NOT NULL "
                f"DEFAULT '{ANONYMOUS_TENANT}'"
            )
        )
        if conn.dialect.name == "postgresql":
            # the default only filled the rows there; every write names the tenant. SQLite
            # cannot drop a column's default, and the next rebuild makes the table without it
            conn.execute(text(f"ALTER TABLE {todos.name} ALTER COLUMN tenant DROP DEFAULT"))
    for index in todos.indexes:
        index.create(conn, checkfirst=True)
