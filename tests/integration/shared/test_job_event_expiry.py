"""Every service's log drops the events of calendar jobs past the job retention (SQLite and
PostgreSQL): a job's events stored before the window go, a newer job's stay, and so does every
other event however old (the todos, the API keys); the rows are found through a partial index on
the time of calendar events, which every log has."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from services.calendar_worker.tool_face import SCHEMA as WORKER_SCHEMA
from services.job_tracker.tool_face import SCHEMA as TRACKER_SCHEMA
from services.todo_api.tool_face import SCHEMA as TODO_SCHEMA
from shared.app.resources import ServiceSchema
from shared.clock import utcnow
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import AnyEvent, TodoCreated
from shared.contracts.streams import calendar_stream_id, todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.expiry import ExpiryJob, expiring_job_events
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.factories import calendar_ready, calendar_requested, todo_snapshot
from tests.support.query_plans import plan_of
from tests.support.stores import service_store

WINDOW = timedelta(seconds=60)
OLD = WINDOW * 3


@pytest.fixture(params=[TODO_SCHEMA, WORKER_SCHEMA, TRACKER_SCHEMA], ids=lambda s: s.owner)
async def store(database: Settings, request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    schema: ServiceSchema = request.param
    async with service_store(database, schema) as opened:
        yield opened


def stored(event: AnyEvent, stream_id: str, age: timedelta = timedelta(0)) -> Envelope:
    envelope = wrap(event, stream_id=stream_id, stream_version=1, origin=ANONYMOUS_ORIGIN)
    return envelope.model_copy(update={"occurred_at": utcnow() - age})


def job(task_id: UUID, age: timedelta) -> list[Envelope]:
    request = stored(calendar_requested(task_id=task_id), calendar_stream_id(task_id), age)
    ready = stored(calendar_ready(task_id), f"render-{task_id}", age)
    return [request, ready]


async def streams(store: EventStore) -> list[str]:
    events = store.tables.events
    async with store.reading() as conn:
        found = await conn.execute(select(events.c.stream_id).order_by(events.c.position))
        return list(found.scalars())


async def test_old_jobs_go_and_newer_jobs_and_other_events_stay(store: EventStore) -> None:
    old, new = uuid4(), uuid4()
    todo = stored(TodoCreated(todo=todo_snapshot(1)), todo_stream_id(1), OLD)
    async with store.transaction() as conn:
        await store.insert(conn, [todo, *job(old, OLD), *job(new, timedelta(0))], publish=False)
    counted: dict[str, int] = {}
    rows = expiring_job_events(store.tables.events, WINDOW, dialect=store.engine.dialect.name)
    cleaner = ExpiryJob(
        store, [rows], batch_rows=1, on_deleted=lambda name, n: counted.update({name: n})
    )

    deleted = await cleaner.run_once(utcnow())

    assert deleted == 2
    owner = store.tables.events.name.removesuffix("_events")
    assert counted == {f"{owner}_job_events": 1}
    assert await streams(store) == [todo_stream_id(1), calendar_stream_id(new), f"render-{new}"]
    assert await cleaner.lag(utcnow()) == {f"{owner}_job_events": 0.0}


async def test_the_expiry_finds_its_rows_through_the_partial_index(store: EventStore) -> None:
    events = store.tables.events
    rows = expiring_job_events(events, WINDOW, dialect=store.engine.dialect.name)
    doomed = select(events.c.position).where(rows.expired(utcnow())).limit(10)
    async with store.reading() as conn:
        oldest = (await conn.execute(rows.oldest())).scalar_one()

    assert f"{events.name.removesuffix('_events')}_job_events_by_time" in await plan_of(
        store, doomed
    )
    assert oldest is None
