"""A large calendar's progress on the tracker's status route, from a worker rendering it on a
real database (SQLite and PostgreSQL), its outbox carried to the tracker as the broker would;
and no progress event for a small one. The rules on the fakes: tests/unit/test_calendar_progress.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.calendar_worker.handlers import WorkerPorts, build_calendar
from services.calendar_worker.records import SqlRenderBook
from services.calendar_worker.tables import SCHEMA as WORKER_SCHEMA
from services.job_tracker.app import create_app as create_tracker
from services.job_tracker.projection import record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA as TRACKER_SCHEMA
from shared.app.app_keys import Adapters
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import Envelope
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.eventstore.store import EventStore
from shared.messaging.outbox import SqlOutbox
from shared.settings import Settings
from tests.support.factories import calendar_envelope, calendar_requested, delivery, todo_snapshots
from tests.support.slow_render import slow_render
from tests.support.stores import service_store

LARGE = 14_000
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def worker_store(service_settings: Settings) -> AsyncIterator[EventStore]:
    async with service_store(service_settings, WORKER_SCHEMA) as store:
        yield store


@pytest.fixture
async def tracker_store(service_settings: Settings) -> AsyncIterator[EventStore]:
    async with service_store(service_settings, TRACKER_SCHEMA) as store:
        yield store


@pytest.fixture
async def tracker(service_settings: Settings, tracker_store: EventStore) -> AsyncIterator[Client]:
    app = create_tracker(service_settings, adapters=Adapters(store=tracker_store))
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def ports(worker_store: EventStore) -> WorkerPorts:
    return WorkerPorts(SqlRenderBook(worker_store), InMemoryBlobStore(), watch_interval_s=0.05)


async def carry(worker_store: EventStore, tracker_store: EventStore) -> list[str]:
    """Deliver what the worker's outbox holds to the tracker; the types delivered."""
    outbox = SqlOutbox(worker_store)
    pending = await outbox.pending()
    for entry in pending:
        await record_job_event(Envelope.from_json(entry.body), SqlJobBook(tracker_store))
    await outbox.mark_published([entry.position for entry in pending])
    return [entry.type for entry in pending]


async def status(tracker: Client, task_id: UUID) -> dict[str, Any]:
    response = await tracker.get(f"/api/v1/todos/ical/{task_id}/status")
    assert response.status == 200
    return dict(await response.json())


async def test_a_large_jobs_status_shows_its_progress_before_its_success(
    ports: WorkerPorts,
    worker_store: EventStore,
    tracker_store: EventStore,
    tracker: Client,
    service_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_render(monkeypatch, chunk_s=0.03)
    task_id = issue_task_id(service_settings.task_secret, ANONYMOUS_TENANT)
    requested = calendar_envelope(calendar_requested(todo_snapshots(LARGE), task_id=task_id))
    rendering = asyncio.create_task(build_calendar(requested, delivery(), ports))
    seen: list[dict[str, Any]] = []

    while not rendering.done():
        await carry(worker_store, tracker_store)
        seen.append(await status(tracker, task_id))
        await asyncio.sleep(0.02)
    await rendering
    await carry(worker_store, tracker_store)
    final = await status(tracker, task_id)

    shown = [body for body in seen if "progress" in body]
    assert shown, seen
    assert all(body["task_status"] == "STARTED" for body in shown)
    assert all(
        0 <= body["progress"]["done"] <= body["progress"]["total"] == LARGE for body in shown
    )
    assert final["task_status"] == "SUCCESS"
    assert "progress" not in final


@pytest.mark.parametrize("quick_render_todos", [1000, 0], ids=["quick", "leased"])
async def test_a_small_job_publishes_no_progress_event(
    ports: WorkerPorts,
    worker_store: EventStore,
    tracker_store: EventStore,
    tracker: Client,
    service_settings: Settings,
    quick_render_todos: int,
) -> None:
    small = dataclasses.replace(ports, quick_render_todos=quick_render_todos)
    task_id = issue_task_id(service_settings.task_secret, ANONYMOUS_TENANT)
    requested = calendar_envelope(calendar_requested(todo_snapshots(100), task_id=task_id))

    await build_calendar(requested, delivery(), small)
    delivered = await carry(worker_store, tracker_store)

    assert "CalendarProgress" not in delivered
    assert delivered[-1] == "CalendarReady"
    assert set(await status(tracker, task_id)) == {"task_id", "task_status", "result_url"}
