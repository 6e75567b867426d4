"""The tracker's running app deletes its inbox rows once their window has passed (a window of
a second here), absorbing a duplicate that arrives within it, and counts what it deleted."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from services.job_tracker.app import create_app
from services.job_tracker.projection import record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.app.app_keys import Adapters, metrics_key
from shared.app.resources import open_store
from shared.aws.blobs import InMemoryBlobStore
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.factories import calendar_envelope, calendar_requested
from tests.support.polling import eventually
from tests.support.scrapes import Scrape

INBOX = "job_tracker_inbox"


async def inbox_rows(store: EventStore) -> int:
    query = select(func.count()).select_from(store.tables.inbox)
    async with store.reading() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_the_tracker_forgets_handled_events_after_the_window(
    service_settings: Settings,
) -> None:
    settings = service_settings.model_copy(
        update={"inbox_expiry_s": 1, "expiry_interval_ms": 50, "expiry_batch_rows": 1}
    )
    store = await open_store(settings, SCHEMA)
    envelopes = [calendar_envelope(calendar_requested()) for _ in range(3)]
    app = create_app(settings, adapters=Adapters(store=store, blobs=InMemoryBlobStore()))
    try:
        for envelope in envelopes:
            assert await record_job_event(envelope, SqlJobBook(store))
        # before the app (and its expiry) starts, so inside the window however long the host
        # stalls: a second delivery changes nothing
        assert not await record_job_event(envelopes[0], SqlJobBook(store))
        async with TestClient(TestServer(app)):

            async def forgotten() -> bool:
                return await inbox_rows(store) == 0

            await eventually(forgotten, timeout_s=10)
            scrape = Scrape.parse((await app[metrics_key].exposition()).decode())
    finally:
        await store.engine.dispose()

    assert scrape.value("expired_rows_deleted_total", table=INBOX) == 3
    assert scrape.value("expiry_lag_seconds", table=INBOX) == 0
