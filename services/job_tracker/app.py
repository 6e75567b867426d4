"""The job tracker's composition root: HTTP reads plus the projection's consumer; and its reads
alone, for a process beside the one that folds (`create_reader_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.job_tracker.access import access_rules
from services.job_tracker.app_keys import (
    job_changes_key,
    key_directory_key,
    settings_key,
    store_key,
    stream_slots_key,
)
from services.job_tracker.file_job_changes import FileJobChanges
from services.job_tracker.fold_groups import make_handle
from services.job_tracker.job_changes import InProcessJobChanges
from services.job_tracker.job_events import end_streams
from services.job_tracker.job_metrics import add_job_metrics, job_finished
from services.job_tracker.pg_job_changes import PgJobChanges
from services.job_tracker.records import SqlJobBook
from services.job_tracker.retention import expiring_job_rows
from services.job_tracker.routes import setup_routes
from services.job_tracker.stream_slots import StreamSlots
from services.job_tracker.tables import SCHEMA, api_keys
from services.job_tracker.upgrade import upgrade_ctx
from shared.app.app_keys import Adapters, adapters_key, metrics_key
from shared.app.resources import aws_ctx, consumer_ctx, database_ctx, expiry_ctx, service_app
from shared.auth.key_directory import SqlKeyDirectory
from shared.auth.middleware import BearerVerifier
from shared.auth.service_auth import service_authentication
from shared.contracts.topology import JOB_TRACKER
from shared.messaging.consumer import Handle
from shared.observability.metrics import Metrics
from shared.settings import Settings
from shared.web.cors import allow_cross_origin


def create_app(
    settings: Settings,
    *,
    adapters: Adapters | None = None,
    verifier: BearerVerifier | None = None,
) -> web.Application:
    """The job tracker. With AUTH_MODE=required, requests need an API key todo_api issued (its
    events reach the tracker on its queue) or a token that `verifier` accepts (None:
    OIDC_ISSUER's tokens when it is set, else API keys only)."""
    app = service_app(settings, adapters)
    allow_cross_origin(app, settings.cors_allowed_origins)
    app.middlewares.append(
        service_authentication(
            app,
            settings,
            rules=access_rules(),
            keys=lambda: app[key_directory_key],
            verifier=verifier,
        )
    )
    app.cleanup_ctx.extend(
        [
            # an older database is brought up to this code's schema before it is opened
            upgrade_ctx,
            database_ctx(SCHEMA),
            key_directory_ctx,
            job_changes_ctx,
            aws_ctx,
            consumer_ctx(JOB_TRACKER, _projection_handle),
            # a job's row (and a note that its file was lost) go with its events, past the
            # job retention
            expiry_ctx(lambda app: expiring_job_rows(app[settings_key].job_retention)),
        ]
    )
    # before the server waits for its requests to finish: the event streams end now
    app.on_shutdown.append(_end_streams)
    setup_routes(app)
    add_job_metrics(app)
    return app


def create_reader_app(settings: Settings, *, adapters: Adapters | None = None) -> web.Application:
    """The tracker's reads without its consumer, its expiry or a server: its tables, blob store and
    job changes, for views called in process by a service beside it (todo_api, on the tracker's
    SQLite file in `make run` or its PostgreSQL schema under services.edge, while the tracker
    folds in processes of its own). Start it with an AppRunner's setup: it waits until the
    tracker has made its tables, creates none, and refuses another schema version."""
    app = web.Application()
    app[settings_key] = settings
    if adapters is not None:
        app[adapters_key] = adapters
    # the blob store's clients count requests here; nothing serves these figures
    app[metrics_key] = Metrics()
    app.cleanup_ctx.extend([database_ctx(SCHEMA, owned=False), job_changes_ctx, aws_ctx])
    app.on_shutdown.append(_end_streams)
    return app


async def _end_streams(app: web.Application) -> None:
    end_streams(app)


async def key_directory_ctx(app: web.Application) -> AsyncIterator[None]:
    app[key_directory_key] = SqlKeyDirectory(app[store_key], api_keys)
    yield


async def job_changes_ctx(app: web.Application) -> AsyncIterator[None]:
    """How the event streams hear of changes: from every replica on PostgreSQL (LISTEN/NOTIFY),
    from every process that opens the file on SQLite (loopback datagrams), in this process alone
    on a SQLite database in memory."""
    app[stream_slots_key] = StreamSlots(app[settings_key].job_events_max_streams)
    engine = app[store_key].engine
    if engine.dialect.name != "postgresql":
        database = engine.url.database
        if not database or database == ":memory:":
            app[job_changes_key] = InProcessJobChanges()
            yield
            return
        shared = FileJobChanges(Path(database))
        app[job_changes_key] = shared
        yield
        shared.close()
        return
    changes = await PgJobChanges.on(engine)
    app[job_changes_key] = changes
    changes.start()
    yield
    await changes.stop()


def _projection_handle(app: web.Application) -> Handle:
    book = SqlJobBook(app[store_key], app[job_changes_key])
    return make_handle(book, job_finished(app[metrics_key].jobs))
