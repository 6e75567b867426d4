"""Rows with a natural end besides the inbox's, on SQLite and PostgreSQL: a rate bucket full
again (as good as no row) and a lease that ran out long ago are deleted; the rest stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from services.calendar_worker.tables import SCHEMA as WORKER_SCHEMA
from services.calendar_worker.tables import render_leases
from services.todo_api.tables import SCHEMA as TODO_SCHEMA
from services.todo_api.tables import rate_buckets
from shared.app.resources import open_store
from shared.auth.rate_buckets import BucketKey, RateBuckets, expiring_buckets
from shared.auth.token_bucket import BucketPolicy
from shared.clock import utcnow
from shared.eventstore import leases
from shared.eventstore.expiry import ExpiringRows, ExpiryJob, expiring_leases
from shared.eventstore.store import EventStore
from shared.observability.metrics import Metrics
from shared.settings import Settings

# fills from empty in 10 s
POLICY = BucketPolicy("writes", per_minute=60, burst=10)
LEASE_WINDOW = timedelta(days=1)
LEASE = timedelta(seconds=30)


@pytest.fixture
async def todo_store(database: Settings) -> AsyncIterator[EventStore]:
    store = await open_store(database, TODO_SCHEMA)
    yield store
    await store.engine.dispose()


@pytest.fixture
async def worker_store(database: Settings) -> AsyncIterator[EventStore]:
    store = await open_store(database, WORKER_SCHEMA)
    yield store
    await store.engine.dispose()


def epoch_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1)) // timedelta(milliseconds=1)


def job_of(store: EventStore, metrics: Metrics, rows: ExpiringRows) -> ExpiryJob:
    return ExpiryJob(store, [rows], batch_rows=1, on_deleted=metrics.expiry.count_deleted)


async def test_buckets_full_again_go_and_one_still_filling_stays(todo_store: EventStore) -> None:
    buckets = RateBuckets(todo_store, rate_buckets)
    now = utcnow()
    idle, busy = BucketKey("t", "idle", "writes"), BucketKey("t", "busy", "writes")
    for _ in range(3):
        await buckets.take(idle, POLICY, epoch_ms(now - timedelta(seconds=11)))
        await buckets.take(busy, POLICY, epoch_ms(now - timedelta(seconds=2)))
    job = job_of(todo_store, Metrics(), expiring_buckets(rate_buckets, [POLICY]))

    lag = await job.lag(now)
    assert await job.run_once(now) == 1
    assert (await job.lag(now))[rate_buckets.name] == 0

    assert lag[rate_buckets.name] >= 1
    async with todo_store.reading() as conn:
        kept = (await conn.execute(select(rate_buckets.c.subject))).scalars().all()
    assert kept == ["busy"]
    # the idle principal finds a full bucket, as the deleted row would have given it
    fresh = RateBuckets(todo_store, rate_buckets)
    outcome = await fresh.take(idle, POLICY, epoch_ms(now))
    assert outcome.tokens == POLICY.burst - 1


async def test_leases_long_run_out_go_and_held_or_lately_run_out_ones_stay(
    worker_store: EventStore,
) -> None:
    now = utcnow()
    claims = {
        "long-gone": now - LEASE_WINDOW - LEASE - timedelta(minutes=1),
        "lately-gone": now - LEASE - timedelta(minutes=1),
        "held": now,
    }
    async with worker_store.transaction() as conn:
        for name, claimed_at in claims.items():
            assert await leases.claim(conn, render_leases, name, "worker-1", claimed_at, LEASE)
    metrics = Metrics()
    job = job_of(worker_store, metrics, expiring_leases(render_leases, LEASE_WINDOW))

    assert await job.run_once(now) == 1

    async with worker_store.reading() as conn:
        kept = set((await conn.execute(select(render_leases.c.name))).scalars().all())
    assert kept == {"lately-gone", "held"}
