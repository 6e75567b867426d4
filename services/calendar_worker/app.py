"""The calendar worker's composition root: the consumer, its outbox relay, a health route."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from services.calendar_worker.handlers import WorkerPorts, make_handle
from services.calendar_worker.records import SqlRenderBook
from services.calendar_worker.result_expiry import expiring_results
from services.calendar_worker.routes import ROUTES
from services.calendar_worker.tables import SCHEMA, render_leases
from services.calendar_worker.upgrade import upgrade_ctx
from shared.app.app_keys import Adapters, blobs_key, metrics_key, settings_key, store_key
from shared.app.resources import (
    aws_ctx,
    consumer_ctx,
    database_ctx,
    expiry_ctx,
    lease_window,
    relay_ctx,
    service_app,
)
from shared.contracts.topology import CALENDAR_WORKER
from shared.eventstore.expiry import ExpiringRows, expiring_leases
from shared.messaging.consumer import Handle
from shared.settings import Settings
from shared.web.openapi import add_routes


def create_app(settings: Settings, *, adapters: Adapters | None = None) -> web.Application:
    app = service_app(settings, adapters)
    app.cleanup_ctx.extend(
        [
            # an older database is brought up to this code's schema before it is opened
            upgrade_ctx,
            database_ctx(SCHEMA),
            aws_ctx,
            relay_ctx,
            consumer_ctx(CALENDAR_WORKER, _handle),
            # render leases whose render died long ago; calendar files in a folder that keeps
            # them (the embedded mode: the worker writes them, so it deletes them)
            expiry_ctx(
                _stale_render_leases, blobs=lambda app: [expiring_results(app[settings_key])]
            ),
        ]
    )
    add_routes(app, ROUTES)
    return app


def _stale_render_leases(app: web.Application) -> list[ExpiringRows]:
    """Render leases whose render died long ago (a finished render releases its own)."""
    return [expiring_leases(render_leases, lease_window(app[settings_key]))]


def _handle(app: web.Application) -> Handle:
    # a render is claimed for as long as its message stays invisible to other workers
    lease = timedelta(seconds=app[settings_key].sqs_visibility_timeout_s)
    renders = app[metrics_key].renders
    book = SqlRenderBook(app[store_key])
    return make_handle(WorkerPorts(book, app[blobs_key], lease, renders=renders))
