"""Bring calendar_worker tables of schema version 1 up to this code's version before they are
opened.

Version 2 dates each inbox row (`handled_at`, so it can expire; rows there count as handled at
the upgrade). A database without tables, or one already upgraded, is left alone; so is one of
any other version, which `ensure_schema` refuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from services.calendar_worker.tables import OWNER, SCHEMA_VERSION, store
from shared.app.app_keys import adapters_key, settings_key
from shared.clock import utcnow
from shared.eventstore.schema_upgrade import lock_schema, run_upgrade, set_version, stored_version
from shared.messaging.inbox import add_handled_at

logger = logging.getLogger(__name__)
UPGRADES_FROM = (1,)


async def upgrade_ctx(app: web.Application) -> AsyncIterator[None]:
    """Upgrade the service's database before `database_ctx` checks its version."""
    # a store handed in is the caller's: its tables are made by whoever made it
    if app[adapters_key].store is None:
        await run_upgrade(app[settings_key], upgrade)
    yield


async def upgrade(engine: AsyncEngine) -> bool:
    """Upgrade version 1 tables in one transaction; False when there was nothing to do."""
    async with engine.begin() as conn:
        await lock_schema(conn)
        found = await stored_version(conn, OWNER)
        if found not in UPGRADES_FROM:
            return False
        now = utcnow()
        await conn.run_sync(lambda sync: add_handled_at(sync, store.inbox, now))
        await set_version(conn, OWNER, SCHEMA_VERSION)
    logger.info("%s tables upgraded from version %d to %d", OWNER, found, SCHEMA_VERSION)
    return True
