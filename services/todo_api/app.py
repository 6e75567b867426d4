"""The todo API's composition root."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.todo_api import tables
from services.todo_api.keys import settings_key, store_key
from services.todo_api.projection import seed_todo_ids
from services.todo_api.routes import ROUTES, setup_routes
from shared.db import create_engine, ensure_schema
from shared.http import MAX_BODY_BYTES, json_errors
from shared.settings import Settings
from shared.store import EventStore

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors])
    app[settings_key] = settings
    app.cleanup_ctx.append(database_ctx)
    setup_routes(app, ROUTES)
    return app


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    engine = create_engine(settings)
    await ensure_schema(
        engine,
        tables.metadata,
        owner=tables.OWNER,
        version=tables.SCHEMA_VERSION,
        schema=settings.database_schema,
    )
    async with engine.begin() as conn:
        await seed_todo_ids(conn)
    app[store_key] = EventStore(engine, tables.store)
    yield
    await engine.dispose()
