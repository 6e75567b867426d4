"""The todo API's composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import ClientSession, web

from services.todo_api.app_keys import (
    LocalTracker,
    book_key,
    local_tracker_key,
    settings_key,
    store_key,
    tracker_client_key,
)
from services.todo_api.cross_site import refuse_cross_site
from services.todo_api.list_version import seed_list_version
from services.todo_api.ops_views import ops_report_ctx
from services.todo_api.page_headers import send_page_headers
from services.todo_api.projection import seed_todo_ids
from services.todo_api.records import SqlTodoBook
from services.todo_api.routes import ROUTES, setup_routes
from services.todo_api.tables import SCHEMA
from services.todo_api.tracker_proxy import tracker_timeout
from services.todo_api.upgrade import upgrade_ctx
from shared.app.app_keys import Adapters
from shared.app.resources import aws_ctx, database_ctx, relay_ctx, service_app
from shared.clock import utcnow
from shared.settings import Settings


def create_app(
    settings: Settings,
    *,
    adapters: Adapters | None = None,
    local_tracker: LocalTracker | None = None,
) -> web.Application:
    """The todo API; `local_tracker` answers the job routes in process instead of over HTTP."""
    app = service_app(settings, adapters)
    app.on_response_prepare.append(send_page_headers)
    app.middlewares.append(refuse_cross_site)
    if local_tracker is not None:
        app[local_tracker_key] = local_tracker
    app.cleanup_ctx.extend(
        [
            # an older database is brought up to this code's schema before it is opened
            upgrade_ctx,
            database_ctx(SCHEMA),
            records_ctx,
            aws_ctx,
            relay_ctx,
            tracker_client_ctx,
        ]
    )
    app.cleanup_ctx.append(ops_report_ctx)
    setup_routes(app, ROUTES)
    return app


async def records_ctx(app: web.Application) -> AsyncIterator[None]:
    """The records on the service's store, its id counter and list version created first."""
    async with app[store_key].engine.begin() as conn:
        await seed_todo_ids(conn)
        await seed_list_version(conn, utcnow())
    app[book_key] = SqlTodoBook(app[store_key])
    yield


async def tracker_client_ctx(app: web.Application) -> AsyncIterator[None]:
    async with ClientSession(timeout=tracker_timeout(app[settings_key])) as client:
        app[tracker_client_key] = client
        yield
