"""The todo API's composition root."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import ClientSession, web

from services.todo_api.access import access_rules, documented_routes
from services.todo_api.app_keys import (
    book_key,
    feed_secrets_key,
    key_book_key,
    rate_buckets_key,
    settings_key,
    store_key,
    tracker_client_key,
    tracker_key,
)
from services.todo_api.cross_site import refuse_cross_site
from services.todo_api.dead_letter_views import dead_letters_ctx
from services.todo_api.feed_secrets import FeedSecrets
from services.todo_api.jobs_cap import documented_cap
from services.todo_api.key_book import KeyBook
from services.todo_api.key_use_expiry import expiring_key_uses, key_use_window
from services.todo_api.ops_views import ops_report_ctx
from services.todo_api.page_headers import send_page_headers
from services.todo_api.projection import seed_todo_ids
from services.todo_api.rate_limits import (
    Clock,
    Pause,
    documented_limits,
    policies,
    rate_limiting,
)
from services.todo_api.records import SqlTodoBook
from services.todo_api.redrive_runs import redrive_runs_ctx
from services.todo_api.routes import ROUTES, setup_routes
from services.todo_api.sign_in import SignIn, sign_in_key
from services.todo_api.tables import SCHEMA, rate_buckets
from services.todo_api.tracker import Tracker
from services.todo_api.tracker_proxy import HttpTracker, events_timeout, tracker_timeout
from services.todo_api.upgrade import upgrade_ctx
from shared.app.app_keys import Adapters
from shared.app.resources import (
    aws_ctx,
    database_ctx,
    expiry_ctx,
    relay_ctx,
    relay_elsewhere_ctx,
    relay_nudged_ctx,
    service_app,
)
from shared.auth.middleware import BearerVerifier
from shared.auth.rate_buckets import RateBuckets, expiring_buckets
from shared.auth.service_auth import service_authentication
from shared.messaging.claim_check import expiring_snapshots
from shared.settings import Settings
from shared.web.cors import allow_cross_origin


def create_app(
    settings: Settings,
    *,
    adapters: Adapters | None = None,
    tracker: Tracker | None = None,
    verifier: BearerVerifier | None = None,
    clock: Clock = time.time,
    pause: Pause = asyncio.sleep,
    relay_elsewhere: Path | None = None,
) -> web.Application:
    """The todo API; it asks the job tracker through `tracker`, or (None) over HTTP at
    JOB_TRACKER_URL. With AUTH_MODE=required, requests need an API key or a token that
    `verifier` accepts (None: OIDC_ISSUER's tokens when it is set, else API keys only). The
    rate limits' buckets refill by `clock` (seconds since the epoch); a principal already refused
    waits by `pause` before it is checked again. With `relay_elsewhere`, another process's
    `create_relay_app(relay_elsewhere)` publishes the outbox, nudged by this one's commits."""
    app = service_app(settings, adapters)
    app[sign_in_key] = SignIn(settings)
    app.on_response_prepare.append(send_page_headers)
    allow_cross_origin(app, settings.cors_allowed_origins)
    app.middlewares.append(
        service_authentication(
            app, settings, rules=access_rules(), keys=lambda: app[key_book_key], verifier=verifier
        )
    )
    app.middlewares.append(refuse_cross_site(settings.cors_allowed_origins))
    limits = policies(settings)
    if limits:
        # after both: a request refused for its credentials or its origin takes no token
        app.middlewares.append(
            rate_limiting(
                limits,
                lambda: app[rate_buckets_key],
                clock,
                pause_cap_ms=settings.rate_limit_refusal_pause_ms,
                pause=pause,
            )
        )
    app.cleanup_ctx.extend(
        [
            # an older database is brought up to this code's schema before it is opened
            upgrade_ctx,
            database_ctx(SCHEMA),
            records_ctx,
            aws_ctx,
            relay_ctx if relay_elsewhere is None else relay_elsewhere_ctx(relay_elsewhere),
            tracker_ctx(tracker),
            # buckets full again are as good as none; key uses past their window; snapshots in
            # a folder that keeps them (the embedded mode: todo_api writes them, so it deletes)
            expiry_ctx(
                lambda app: [
                    expiring_buckets(rate_buckets, limits.values()),
                    expiring_key_uses(
                        app[store_key].tables.events,
                        key_use_window(settings),
                        app[store_key].engine.dialect.name,
                    ),
                ],
                blobs=lambda _app: [expiring_snapshots(settings)],
            ),
        ]
    )
    app.cleanup_ctx.append(ops_report_ctx)
    app.cleanup_ctx.append(dead_letters_ctx)
    app.cleanup_ctx.append(redrive_runs_ctx)
    required = settings.auth_mode == "required"
    routes = documented_cap(documented_limits(ROUTES, limits), settings)
    setup_routes(app, documented_routes(routes) if required else routes)
    return app


def create_relay_app(settings: Settings, nudged_by: Path) -> web.Application:
    """todo_api's outbox relay alone, for a process beside the one taking requests, which runs
    `create_app(relay_elsewhere=nudged_by)`: todo_api's tables (that process makes them; here
    they are waited for), the broker, and the relay, which publishes at once what that process
    commits. Never served: its metrics have their own listener, as every app's do."""
    app = service_app(settings)
    app.cleanup_ctx.extend(
        [database_ctx(SCHEMA, owned=False), aws_ctx, relay_ctx, relay_nudged_ctx(nudged_by)]
    )
    return app


async def records_ctx(app: web.Application) -> AsyncIterator[None]:
    """The records on the service's store, its id counter created first (each tenant's list
    version is made by its list's first change or its feed's first poll)."""
    async with app[store_key].engine.begin() as conn:
        await seed_todo_ids(conn)
    app[book_key] = SqlTodoBook(app[store_key])
    app[key_book_key] = KeyBook(app[store_key])
    app[feed_secrets_key] = FeedSecrets(app[store_key])
    app[rate_buckets_key] = RateBuckets(app[store_key], rate_buckets)
    yield


def tracker_ctx(given: Tracker | None) -> Callable[[web.Application], AsyncIterator[None]]:
    """The HTTP client (the operations page's probes use it too) and the tracker: `given`, or
    the tracker at JOB_TRACKER_URL asked with that client."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        async with ClientSession(timeout=tracker_timeout(settings)) as client:
            app[tracker_client_key] = client
            app[tracker_key] = (
                given
                if given is not None
                else HttpTracker(client, settings.job_tracker_url, events_timeout(settings))
            )
            yield

    return ctx
