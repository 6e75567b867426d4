"""Bring todo_api tables of schema version 1 or 2 up to this code's version before they are
opened.

Version 3 adds the API keys projection (`todo_api_api_keys`, empty: no older code issued keys).
Version 2 adds the list version, the calendar feed's tag (list_version.py): its table is made and
its row seeded with a new database id, version 0, and the time of the last todo event in the log.
A database without tables, or one already upgraded, is left alone; so is one of any other version,
which `ensure_schema` refuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.todo_api.list_version import seed_list_version
from services.todo_api.tables import OWNER, SCHEMA_VERSION, api_keys, list_version, store
from shared.app.app_keys import adapters_key, settings_key
from shared.clock import utcnow
from shared.eventstore.schema_upgrade import lock_schema, run_upgrade, set_version, stored_version

logger = logging.getLogger(__name__)
UPGRADES_FROM = (1, 2)
TODO_EVENT_TYPES = ("TodoCreated", "TodoUpdated", "TodoDeleted")


async def upgrade_ctx(app: web.Application) -> AsyncIterator[None]:
    """Upgrade the service's database before `database_ctx` checks its version."""
    # a store handed in is the caller's: its tables are made by whoever made it
    if app[adapters_key].store is None:
        await run_upgrade(app[settings_key], upgrade)
    yield


async def upgrade(engine: AsyncEngine) -> bool:
    """Upgrade version 1 or 2 tables in one transaction, each version's step in turn; False
    when there was nothing to do."""
    async with engine.begin() as conn:
        await lock_schema(conn)
        found = await stored_version(conn, OWNER)
        if found not in UPGRADES_FROM:
            return False
        if found == 1:
            await conn.run_sync(lambda sync: list_version.create(sync, checkfirst=True))
            await seed_list_version(conn, await _last_change(conn) or utcnow())
        await conn.run_sync(lambda sync: api_keys.create(sync, checkfirst=True))
        await set_version(conn, OWNER, SCHEMA_VERSION)
    logger.info("%s tables upgraded from version %s to %d", OWNER, found, SCHEMA_VERSION)
    return True


async def _last_change(conn: AsyncConnection) -> datetime | None:
    events = store.events
    newest = select(func.max(events.c.occurred_at)).where(events.c.type.in_(TODO_EVENT_TYPES))
    found: datetime | None = (await conn.execute(newest)).scalar_one()
    return found
