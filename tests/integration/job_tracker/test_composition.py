"""Composition roots take the adapters they are handed: a store and a blob store built elsewhere."""

from __future__ import annotations

import hashlib

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.pool import QueuePool

from services.job_tracker.app import create_app
from services.job_tracker.projection import record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.app.app_keys import Adapters
from shared.app.resources import open_store
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import wrap
from shared.contracts.events import CalendarReady, CalendarRequested
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, ANONYMOUS_TENANT
from shared.settings import Settings
from tests.support.factories import NOW

CALENDAR = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"


async def test_the_tracker_answers_from_the_store_and_blobs_it_is_handed_and_leaves_them_open(
    service_settings: Settings,
) -> None:
    store, blobs = await open_store(service_settings, SCHEMA), InMemoryBlobStore()
    task_id = issue_task_id(service_settings.task_secret, ANONYMOUS_TENANT)
    key = f"calendars/{task_id}.ics"
    await blobs.put(key, CALENDAR, "text/calendar")
    ready = CalendarReady(
        task_id=task_id,
        blob_key=key,
        size_bytes=len(CALENDAR),
        sha256=hashlib.sha256(CALENDAR).hexdigest(),
        event_count=0,
    )
    requested = CalendarRequested(task_id=task_id, requested_at=NOW, todo_count=0, todos=())
    book = SqlJobBook(store)
    await record_job_event(
        wrap(requested, stream_id="calendar", stream_version=1, origin=ANONYMOUS_ORIGIN), book
    )
    await record_job_event(
        wrap(ready, stream_id="render", stream_version=1, origin=ANONYMOUS_ORIGIN), book
    )

    app = create_app(service_settings, adapters=Adapters(store=store, blobs=blobs))
    async with TestClient(TestServer(app)) as client:
        status = await (await client.get(f"/api/v1/todos/ical/{task_id}/status")).json()
        result = await (await client.get(f"/api/v1/todos/ical/{task_id}/result")).read()

    assert status["task_status"] == "SUCCESS"
    assert result == CALENDAR
    # the app closed what it built, not what it was handed: the store's connections are pooled
    pool = store.engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedin() >= 1
    await store.engine.dispose()
