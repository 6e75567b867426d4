"""A cancelled job on real databases (SQLite and PostgreSQL): the worker's render stream, where
the revocation and an outcome compete, and its outbox; the tracker's job and status route. The
decisions on the fakes: tests/unit/test_calendar_cancel.py and tests/unit/test_jobs.py."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.calendar_worker.handlers import WorkerPorts, build_calendar, cancel_calendar
from services.calendar_worker.records import SqlRenderBook
from services.calendar_worker.rendering import calendar_blob_key
from services.job_tracker.app import create_app as create_tracker
from services.job_tracker.projection import record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA as TRACKER_SCHEMA
from shared.app.app_keys import Adapters
from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CalendarCancelled
from shared.contracts.streams import calendar_stream_id, render_stream_id
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, ANONYMOUS_TENANT
from shared.eventstore.store import EventStore
from shared.messaging.outbox import SqlOutbox
from shared.settings import Settings
from tests.support.factories import (
    NOW,
    calendar_envelope,
    calendar_ready,
    calendar_requested,
    delivery,
    revoked_envelope,
    todo_snapshot,
    todo_snapshots,
)
from tests.support.polling import eventually
from tests.support.slow_render import chunks_of, slow_render
from tests.support.stores import service_store

LARGE = 10_000


@pytest.fixture
def ports(worker_store: EventStore) -> WorkerPorts:
    return WorkerPorts(SqlRenderBook(worker_store), InMemoryBlobStore(), watch_interval_s=0.02)


def cancel_of(requested: Envelope) -> Envelope:
    task_id = requested.correlation_id
    assert task_id is not None
    cancel = CalendarCancelled(task_id=task_id, cancelled_at=NOW)
    return wrap(
        cancel,
        stream_id=calendar_stream_id(task_id),
        stream_version=2,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )


async def render_types(ports: WorkerPorts, requested: Envelope) -> list[str]:
    assert requested.correlation_id is not None
    return [event.type for event in await ports.book.history(requested.correlation_id)]


async def published(store: EventStore) -> list[str]:
    return [entry.type for entry in await SqlOutbox(store).pending()]


class TestTheWorker:
    @pytest.mark.parametrize("quick_render_todos", [1000, 0], ids=["quick", "leased"])
    async def test_a_request_whose_cancel_came_first_is_skipped_and_only_revoked(
        self, ports: WorkerPorts, worker_store: EventStore, quick_render_todos: int
    ) -> None:
        either = dataclasses.replace(ports, quick_render_todos=quick_render_todos)
        requested = calendar_envelope(calendar_requested((todo_snapshot(1),)))

        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), either)
        await build_calendar(requested, delivery(), either)

        assert await render_types(either, requested) == ["CalendarRevoked"]
        assert await published(worker_store) == ["CalendarRevoked"]

    async def test_a_render_under_way_stops_and_records_no_outcome(
        self, ports: WorkerPorts, worker_store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        render = slow_render(monkeypatch, chunk_s=0.05)
        requested = calendar_envelope(calendar_requested(todo_snapshots(LARGE)))
        task_id = requested.correlation_id
        assert task_id is not None
        rendering = asyncio.create_task(build_calendar(requested, delivery(), ports))

        await eventually(lambda: _at_least(render.chunks, 3), timeout_s=10, interval_s=0.01)
        await cancel_calendar(cancel_of(requested), delivery(message_id="c-1"), ports)
        await rendering

        assert await render_types(ports, requested) == ["CalendarStarted", "CalendarRevoked"]
        assert render.chunks < chunks_of(LARGE)
        assert isinstance(ports.blobs, InMemoryBlobStore)
        assert calendar_blob_key(requested.tenant, task_id) not in ports.blobs.blobs
        assert "CalendarReady" not in await published(worker_store)
        async with ports.book.transaction() as records:
            assert await records.lease_expiry(task_id) is None


class TestTheTracker:
    async def test_a_revocation_that_arrives_before_its_request_ends_revoked_for_good(
        self, service_settings: Settings
    ) -> None:
        task_id = issue_task_id(service_settings.task_secret, ANONYMOUS_TENANT)
        requested = calendar_envelope(calendar_requested((todo_snapshot(1),), task_id=task_id))
        async with service_store(service_settings, TRACKER_SCHEMA) as store:
            for envelope in (revoked_envelope(task_id), cancel_of(requested), requested):
                assert await record_job_event(envelope, SqlJobBook(store))

            app = create_tracker(service_settings, adapters=Adapters(store=store))
            async with TestClient(TestServer(app)) as client:
                status = await client.get(f"/api/v1/todos/ical/{task_id}/status")
                result = await client.get(f"/api/v1/todos/ical/{task_id}/result")
                status_body, result_body = await status.json(), await result.json()

        # the practical's three keys, nothing more
        assert status_body == {
            "task_id": str(task_id),
            "task_status": "REVOKED",
            "result_url": status_body["result_url"],
        }
        assert (result.status, result_body) == (404, {"error": "Task not finished"})


async def _at_least(value: int, minimum: int) -> bool:
    return value >= minimum


async def test_a_cancel_that_the_render_beat_ends_as_the_render_did(
    service_settings: Settings,
) -> None:
    task_id = issue_task_id(service_settings.task_secret, ANONYMOUS_TENANT)
    requested = calendar_envelope(calendar_requested((todo_snapshot(1),), task_id=task_id))
    # the worker stored the file before it received the cancel: its render stream holds the
    # outcome, and the cancel finds the job ended
    ready = wrap(
        calendar_ready(task_id),
        stream_id=render_stream_id(task_id),
        stream_version=1,
        origin=ANONYMOUS_ORIGIN,
    )
    async with service_store(service_settings, TRACKER_SCHEMA) as store:
        for envelope in (cancel_of(requested), requested, ready):
            assert await record_job_event(envelope, SqlJobBook(store))
        app = create_tracker(service_settings, adapters=Adapters(store=store))
        async with TestClient(TestServer(app)) as client:
            status = await client.get(f"/api/v1/todos/ical/{task_id}/status")
            body = await status.json()

    assert body["task_status"] == "SUCCESS"
