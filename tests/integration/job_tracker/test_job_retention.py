"""The tracker's running app forgets a job past the job retention: its events, its row and the
note of its lost file go, a newer job stays whole, and the deletes are counted."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from services.job_tracker.app import create_app
from services.job_tracker.projection import record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.retention import note_lost
from services.job_tracker.tables import SCHEMA, jobs, lost_results
from shared.app.app_keys import Adapters, metrics_key
from shared.app.resources import open_store
from shared.aws.blobs import InMemoryBlobStore
from shared.clock import utcnow
from shared.contracts.envelope import wrap
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.factories import calendar_envelope, calendar_ready, calendar_requested
from tests.support.polling import eventually
from tests.support.scrapes import Scrape

WINDOW_S = 60


async def record_finished_job(store: EventStore) -> UUID:
    task_id = uuid4()
    request = calendar_envelope(calendar_requested(task_id=task_id))
    ready = wrap(
        calendar_ready(task_id),
        stream_id=f"render-{task_id}",
        stream_version=1,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )
    for envelope in (request, ready):
        assert await record_job_event(envelope, SqlJobBook(store))
    return task_id


async def backdate(store: EventStore, task_id: UUID) -> None:
    """The job's events and row as they would be a few windows later."""
    long_ago = utcnow() - timedelta(seconds=WINDOW_S * 3)
    events = store.tables.events
    async with store.transaction() as conn:
        await conn.execute(
            update(events)
            .where(events.c.correlation_id == str(task_id))
            .values(occurred_at=long_ago)
        )
        await conn.execute(
            update(jobs).where(jobs.c.task_id == str(task_id)).values(updated_at=long_ago)
        )
        await conn.execute(
            update(lost_results)
            .where(lost_results.c.task_id == str(task_id))
            .values(noticed_at=long_ago)
        )


async def kept(store: EventStore, task_id: UUID) -> tuple[int, int, int]:
    """The job's events, rows and lost-file notes."""
    key = str(task_id)
    counts = (
        select(func.count()).where(store.tables.events.c.correlation_id == key),
        select(func.count()).where(jobs.c.task_id == key),
        select(func.count()).where(lost_results.c.task_id == key),
    )
    async with store.reading() as conn:
        found = [int((await conn.execute(count)).scalar_one()) for count in counts]
    return found[0], found[1], found[2]


async def test_a_job_past_the_retention_is_forgotten_and_a_newer_one_kept(
    service_settings: Settings,
) -> None:
    settings = service_settings.model_copy(
        update={"job_expiry_s": WINDOW_S, "expiry_interval_ms": 50}
    )
    store = await open_store(settings, SCHEMA)
    app = create_app(settings, adapters=Adapters(store=store, blobs=InMemoryBlobStore()))
    try:
        async with TestClient(TestServer(app)):
            old, new = await record_finished_job(store), await record_finished_job(store)
            for task_id in (old, new):
                await note_lost(store, task_id)
            await backdate(store, old)

            async def forgotten() -> bool:
                return await kept(store, old) == (0, 0, 0)

            await eventually(forgotten, timeout_s=10)
            newer = await kept(store, new)
            scrape = Scrape.parse((await app[metrics_key].exposition()).decode())
    finally:
        await store.engine.dispose()

    assert newer == (2, 1, 1)
    assert scrape.value("expired_rows_deleted_total", table="job_tracker_job_events") == 2
    assert scrape.value("expired_rows_deleted_total", table="job_tracker_jobs") == 1
    assert scrape.value("expired_rows_deleted_total", table="job_tracker_lost_results") == 1
