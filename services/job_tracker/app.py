"""The job tracker's composition root: HTTP reads plus the projection's consumer."""

from __future__ import annotations

from aiohttp import web

from services.job_tracker.app_keys import store_key
from services.job_tracker.job_metrics import add_job_metrics, job_finished
from services.job_tracker.projection import make_handle
from services.job_tracker.records import SqlJobBook
from services.job_tracker.routes import setup_routes
from services.job_tracker.tables import SCHEMA
from services.job_tracker.upgrade import upgrade_ctx
from shared.app.app_keys import Adapters, metrics_key
from shared.app.resources import aws_ctx, consumer_ctx, database_ctx, service_app
from shared.contracts.topology import JOB_TRACKER
from shared.messaging.consumer import Handle
from shared.settings import Settings


def create_app(settings: Settings, *, adapters: Adapters | None = None) -> web.Application:
    app = service_app(settings, adapters)
    app.cleanup_ctx.extend(
        [
            # an older database is brought up to this code's schema before it is opened
            upgrade_ctx,
            database_ctx(SCHEMA),
            aws_ctx,
            consumer_ctx(JOB_TRACKER, _projection_handle),
        ]
    )
    setup_routes(app)
    add_job_metrics(app)
    return app


def _projection_handle(app: web.Application) -> Handle:
    return make_handle(SqlJobBook(app[store_key]), job_finished(app[metrics_key].jobs))
