"""Expired rows are deleted in batches on SQLite and PostgreSQL: the inbox keeps a row for its
window (a duplicate inside it is still absorbed), several cleaners delete each row once, and the
lag metric shows what waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from services.job_tracker.projection import record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.app.resources import inbox_window, open_store
from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.topology import DUPLICATE_WINDOW_S, REDRIVE_WINDOW_S
from shared.eventstore.expiry import ExpiryJob
from shared.eventstore.store import EventStore
from shared.messaging.inbox import expiring_inbox
from shared.observability.metrics import Metrics
from shared.settings import Settings
from tests.support.factories import calendar_envelope, calendar_requested
from tests.support.scrapes import Scrape

# minutes: rows delivered during a test are inside it however long the host stalls
WINDOW = timedelta(minutes=10)
TFVARS = Path(__file__).parents[3] / "terraform" / "topology.auto.tfvars.json"
INBOX = "job_tracker_inbox"


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    store = await open_store(database, SCHEMA)
    yield store
    await store.engine.dispose()


def cleaner(store: EventStore, metrics: Metrics, *, batch_rows: int = 3) -> ExpiryJob:
    return ExpiryJob(
        store,
        [expiring_inbox(store.tables.inbox, WINDOW)],
        batch_rows=batch_rows,
        on_deleted=metrics.expiry.count_deleted,
    )


async def deliver(store: EventStore, count: int) -> list[Envelope]:
    """`count` requests handled by the tracker's consumer path (inbox, log and job row)."""
    envelopes = [calendar_envelope(calendar_requested()) for _ in range(count)]
    for envelope in envelopes:
        assert await record_job_event(envelope, SqlJobBook(store))
    return envelopes


async def backdate(store: EventStore, envelopes: list[Envelope]) -> None:
    """Their inbox rows handled well before the window."""
    inbox = store.tables.inbox
    ids = [str(envelope.event_id) for envelope in envelopes]
    async with store.transaction() as conn:
        stamp = utcnow() - WINDOW * 5
        await conn.execute(update(inbox).where(inbox.c.event_id.in_(ids)).values(handled_at=stamp))


async def inbox_rows(store: EventStore) -> int:
    async with store.reading() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(store.tables.inbox))).scalar_one()
        )


async def scrape(metrics: Metrics) -> Scrape:
    return Scrape.parse((await metrics.exposition()).decode())


async def test_rows_past_the_window_go_and_newer_ones_stay_absorbing_duplicates(
    store: EventStore,
) -> None:
    old, new = await deliver(store, 7), await deliver(store, 2)
    await backdate(store, old)
    metrics = Metrics()

    deleted = await cleaner(store, metrics).run_once(utcnow())

    assert deleted == 7
    assert await inbox_rows(store) == 2
    # a duplicate inside the window is still absorbed by the inbox
    assert not await record_job_event(new[0], SqlJobBook(store))
    assert (await scrape(metrics)).value("expired_rows_deleted_total", table=INBOX) == 7


async def test_an_event_republished_after_its_inbox_row_expired_is_skipped(
    store: EventStore,
) -> None:
    old = await deliver(store, 1)
    await backdate(store, old)
    await cleaner(store, Metrics()).run_once(utcnow())

    # the tracker's own log still knows it: skipped, not refused by the log's unique event id
    assert not await record_job_event(old[0], SqlJobBook(store))


async def test_two_cleaners_at_once_delete_each_row_once(
    store: EventStore, database: Settings
) -> None:
    await backdate(store, await deliver(store, 40))
    other = await open_store(database, SCHEMA)
    metrics = Metrics()
    jobs = [cleaner(store, metrics), cleaner(other, metrics)]
    barrier = asyncio.Barrier(len(jobs))

    async def clean(job: ExpiryJob) -> int:
        await barrier.wait()
        return await job.run_once(utcnow())

    try:
        counts = await asyncio.gather(*(clean(job) for job in jobs))
    finally:
        await other.engine.dispose()

    assert sum(counts) == 40
    assert await inbox_rows(store) == 0
    assert (await scrape(metrics)).value("expired_rows_deleted_total", table=INBOX) == 40


async def test_the_lag_metric_shows_rows_past_their_window_then_zero(store: EventStore) -> None:
    await backdate(store, await deliver(store, 4))
    metrics = Metrics()
    job = cleaner(store, metrics)
    metrics.watch_expiry(lambda: job.lag(utcnow()))

    lag_before = (await scrape(metrics)).value("expiry_lag_seconds", table=INBOX)
    await job.run_once(utcnow())
    lag_after = (await scrape(metrics)).value("expiry_lag_seconds", table=INBOX)

    assert lag_before is not None
    assert lag_before >= (WINDOW * 4).total_seconds() - 1
    assert lag_after == 0


async def test_a_stopped_job_deletes_no_further_batch(store: EventStore) -> None:
    await backdate(store, await deliver(store, 6))
    job = cleaner(store, Metrics(), batch_rows=2)
    job.stop()

    assert await job.run_once(utcnow()) == 0
    assert await inbox_rows(store) == 6


def test_the_inbox_window_is_both_retentions_terraform_sets_plus_the_redrive_window() -> None:
    deployed = json.loads(TFVARS.read_text())
    expected = deployed["queue_retention_s"] + deployed["dlq_retention_s"] + REDRIVE_WINDOW_S

    assert expected == DUPLICATE_WINDOW_S
    assert inbox_window(Settings()) == timedelta(seconds=expected)
    assert inbox_window(Settings(inbox_expiry_s=3)) == timedelta(seconds=3)
