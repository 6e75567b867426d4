"""Cleanup contexts shared by the services: each creates one resource, yields, disposes of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import MetaData

from shared.app.app_keys import (
    Adapters,
    adapters_key,
    aws_key,
    blobs_key,
    metrics_key,
    relay_key,
    settings_key,
    store_key,
)
from shared.app.metrics_listener import metrics_listener_ctx
from shared.aws.blob_expiry import BlobExpiry, ExpiringBlobs, KeptBlobs
from shared.clock import utcnow
from shared.contracts.topology import DUPLICATE_WINDOW_S, ROUTED_TYPES, Names, QueueSpec
from shared.eventstore.database import (
    TablesMissingError,
    check_schema,
    create_engine,
    ensure_schema,
    is_unreachable,
    server_address,
)
from shared.eventstore.expiry import (
    ExpiringRows,
    ExpiryJob,
    expiring_job_events,
    expiring_leases,
)
from shared.eventstore.store import EventStore, StoreTables
from shared.messaging.consumer import ConsumerOptions, Handle, SqsConsumer
from shared.messaging.inbox import expiring_inbox
from shared.messaging.outbox import SqlOutbox
from shared.messaging.publisher import SnsPublisher
from shared.messaging.relay import OutboxRelay
from shared.messaging.relay_lease import RelayLease
from shared.messaging.relay_nudges import RelayNudges
from shared.messaging.transports import open_clients
from shared.observability.metrics import Metrics, http_metrics
from shared.observability.tracing import request_tracing, send_trace_headers
from shared.retry import wait_for
from shared.settings import Settings
from shared.web.http import MAX_BODY_BYTES, json_errors, note_response_started

logger = logging.getLogger(__name__)
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
SHUTDOWN_GRACE_S = 10.0
NO_ADAPTERS = Adapters()


@dataclass(frozen=True)
class ServiceSchema:
    """A service's own tables: who owns them, their version, and the event store among them."""

    owner: str
    version: int
    metadata: MetaData
    store: StoreTables


def service_app(
    settings: Settings, adapters: Adapters | None = None, *, max_body_bytes: int = MAX_BODY_BYTES
) -> web.Application:
    """A service's application: JSON errors, metrics (on their own listener), its settings, and
    any adapters it is handed."""
    metrics = Metrics()
    # the trace and request id first, so every line logged and every response carries them;
    # metrics outside the JSON errors, so the status counted is the one sent
    middlewares = [request_tracing(settings.service_name), http_metrics(metrics), json_errors]
    app = web.Application(client_max_size=max_body_bytes, middlewares=middlewares)
    app.on_response_prepare.append(send_trace_headers)
    # json_errors must know when a response has begun: an error can then only cut it short
    app.on_response_prepare.append(note_response_started)
    app[settings_key] = settings
    app[adapters_key] = adapters or NO_ADAPTERS
    app[metrics_key] = metrics
    # /metrics on a port of its own for scrapers inside the network, never on the public one;
    # first in, so it outlives the parts whose figures it reads
    app.cleanup_ctx.append(metrics_listener_ctx)
    return app


def database_ctx(schema: ServiceSchema, *, owned: bool = True) -> CleanupCtx:
    """The service's store at `store_key`: its own tables (`owned`), or another process's read
    (`owned=False`: waited for, never created)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        given = app.get(adapters_key, NO_ADAPTERS).store
        if given is not None:
            app[store_key] = given
            yield
            return
        opened = open_store if owned else open_reader_store
        store = await opened(app[settings_key], schema)
        app[store_key] = store
        yield
        await store.close()

    return ctx


async def open_store(settings: Settings, schema: ServiceSchema) -> EventStore:
    """Connect to the service's database, create or check its tables, and return its store.

    A PostgreSQL server that does not answer yet is waited for; one that refuses (unknown
    database or role, wrong password, another schema version) fails the start at once.
    """
    engine = create_engine(settings)

    async def create_tables() -> None:
        await ensure_schema(
            engine,
            schema.metadata,
            owner=schema.owner,
            version=schema.version,
            schema=settings.database_schema,
        )

    # a SQLite file is local: what fails to open it does not go away by waiting
    is_transient = _never if settings.is_sqlite else is_unreachable
    try:
        await wait_for(create_tables, what=server_address(settings), is_transient=is_transient)
    except BaseException:
        await engine.dispose()
        raise
    return EventStore(engine, schema.store, routed=ROUTED_TYPES)


async def open_reader_store(settings: Settings, schema: ServiceSchema) -> EventStore:
    """A store over the tables another process owns and makes: waited for while the database or
    the tables are not there yet (the owner starting beside this process), refused at once at
    another schema version. Nothing is created."""
    engine = create_engine(settings)

    async def check_tables() -> None:
        await check_schema(engine, schema.metadata, owner=schema.owner, version=schema.version)

    where = f"{schema.owner}'s tables on {server_address(settings)}"
    if settings.database_schema:
        where += f" (schema {settings.database_schema})"
    # a SQLite file is local: only its tables' absence (the owner not started yet) is waited out
    away = _never if settings.is_sqlite else is_unreachable

    def is_transient(exc: BaseException) -> bool:
        return isinstance(exc, TablesMissingError) or away(exc)

    try:
        await wait_for(check_tables, what=where, is_transient=is_transient)
    except BaseException:
        await engine.dispose()
        raise
    return EventStore(engine, schema.store, routed=ROUTED_TYPES)


def _never(_exc: BaseException) -> bool:
    return False


async def aws_ctx(app: web.Application) -> AsyncIterator[None]:
    """The messaging clients and blob store of the configured transport (AWS or embedded)."""
    given = app.get(adapters_key, NO_ADAPTERS)
    async with open_clients(app[settings_key], metrics=app[metrics_key]) as (clients, blobs):
        app[aws_key] = given.clients or clients
        app[blobs_key] = given.blobs or blobs
        yield


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """Publish the service's outbox in the background; flush it at shutdown."""
    settings, sns, store = app[settings_key], app[aws_key].sns, app[store_key]
    lease = RelayLease(store)
    relay = OutboxRelay(
        SqlOutbox(store, fence=lease.confirm),
        SnsPublisher(sns, Names(settings.resource_prefix).topic, service=settings.service_name),
        lease=lease,
        poll_interval_s=settings.relay_poll_interval_ms / 1000,
        batch_window_s=settings.batch_window_s,
        metrics=app[metrics_key].relay,
    )
    app[relay_key] = relay
    app[metrics_key].watch_outbox(relay.backlog)
    # every commit that queues events nudges the relay, whoever made it
    store.on_outbox_commit(relay.notify)
    task = asyncio.create_task(relay.run(), name="outbox-relay")
    yield
    # let a publish in progress finish rather than cancel it halfway through a database call
    relay.stop()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, SHUTDOWN_GRACE_S)
    await relay.flush(SHUTDOWN_GRACE_S)
    await relay.release()
    logger.info("stopped %r", relay)


def relay_elsewhere_ctx(nudges_at: Path) -> CleanupCtx:
    """No relay in this process: another one's (`relay_nudged_ctx(nudges_at)`) publishes the
    service's outbox. Each commit that queues events nudges it, and the backlog is still this
    service's metric (the operations page reads it here)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = app[store_key]
        nudges = RelayNudges(nudges_at)
        store.on_outbox_commit(nudges.tell)
        app[metrics_key].watch_outbox(SqlOutbox(store).backlog)
        yield
        nudges.close()

    return ctx


def relay_nudged_ctx(nudges_at: Path) -> CleanupCtx:
    """The relay at `relay_key` (after `relay_ctx`) also publishes at once what another process
    commits, which runs `relay_elsewhere_ctx(nudges_at)`."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        nudges = RelayNudges(nudges_at)
        nudges.listen(app[relay_key].notify)
        yield
        nudges.close()

    return ctx


def consumer_ctx(spec: QueueSpec, make_handle: Callable[[web.Application], Handle]) -> CleanupCtx:
    """Consume `spec`'s queue while the app runs; on shutdown finish in-flight messages."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings, sqs = app[settings_key], app[aws_key].sqs
        options = ConsumerOptions(
            name=spec.name,
            wait_time_s=settings.sqs_wait_time_s,
            visibility_timeout_s=settings.sqs_visibility_timeout_s,
            max_receive_count=settings.sqs_max_receive_count,
            concurrency=settings.consumer_concurrency,
            batch_window_s=settings.batch_window_s,
            service=settings.service_name,
            dead_letter_queue=Names(settings.resource_prefix).dlq(spec),
        )
        queue = Names(settings.resource_prefix).queue(spec)
        metrics = app[metrics_key].consumer(spec.name)
        consumer = SqsConsumer(sqs, queue, make_handle(app), options, metrics=metrics)
        task = asyncio.create_task(consumer.run(), name=f"consumer-{spec.name}")
        yield
        consumer.stop()
        await consumer.drain(SHUTDOWN_GRACE_S)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        logger.info("stopped %r", consumer)

    return ctx


def inbox_window(settings: Settings) -> timedelta:
    """How long inbox rows are kept: the duplicate window, unless a test shortens it."""
    return timedelta(seconds=settings.inbox_expiry_s or DUPLICATE_WINDOW_S)


def lease_window(settings: Settings) -> timedelta:
    """How long after a lease ran out its row is kept."""
    return timedelta(seconds=settings.lease_expiry_s)


def expiry_ctx(
    extra: Callable[[web.Application], Sequence[ExpiringRows]] = lambda _app: (),
    blobs: Callable[[web.Application], Sequence[ExpiringBlobs]] = lambda _app: (),
) -> CleanupCtx:
    """Delete the service's expired rows in the background: its inbox's, its relay lease's
    (of a relay gone long ago), its log's events of calendar jobs past their retention, and
    `extra`'s; and `blobs`' when its blob store keeps them
    until deleted (the embedded folder; S3's lifecycle rules delete them there)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings, store, metrics = app[settings_key], app[store_key], app[metrics_key]
        inbox = expiring_inbox(store.tables.inbox, inbox_window(settings))
        relay_lease = expiring_leases(store.tables.relay_lease, lease_window(settings))
        dialect = store.engine.dialect.name
        job_events = expiring_job_events(
            store.tables.events, settings.job_retention, dialect=dialect
        )
        jobs: list[ExpiryJob | BlobExpiry] = [
            ExpiryJob(
                store,
                [inbox, relay_lease, job_events, *extra(app)],
                batch_rows=settings.expiry_batch_rows,
                on_deleted=metrics.expiry.count_deleted,
            )
        ]
        folder, prefixes = app[blobs_key], blobs(app)
        if isinstance(folder, KeptBlobs) and prefixes:
            jobs.append(
                BlobExpiry(
                    folder,
                    prefixes,
                    batch_blobs=settings.expiry_batch_rows,
                    on_deleted=metrics.expiry.count_deleted,
                )
            )

        async def lag() -> dict[str, float]:
            now = utcnow()
            return {
                table: seconds for job in jobs for table, seconds in (await job.lag(now)).items()
            }

        metrics.watch_expiry(lag)
        interval_s = settings.expiry_interval_ms / 1000
        tasks = [
            asyncio.create_task(job.run(interval_s, utcnow), name=f"expiry-{number}")
            for number, job in enumerate(jobs)
        ]
        yield
        # a batch in progress finishes (it is short); the pass resumes at the next start
        for job in jobs:
            job.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks), SHUTDOWN_GRACE_S)

    return ctx
