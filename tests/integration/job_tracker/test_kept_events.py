"""The tracker keeps a calendar request without its snapshot, on SQLite and PostgreSQL: the
stored event is a few hundred bytes whatever the todos, keeps its id, and a rebuild from the log
gives the row the live fold wrote; requests stored with their snapshot before fold alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select, update

from services.job_tracker.projection import JobFold, find_job, record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.app.resources import open_store
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CalendarReady, CalendarRequested, TodoSnapshot
from shared.contracts.streams import calendar_stream_id, render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.contracts.todo_refs import encode_refs
from shared.eventstore.queries import EventQueries
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.factories import NOW, task_of

TODOS = 100
# what a request with no todos at all takes as JSON, with room to spare
SLIM_BYTES = 700


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    store = await open_store(database, SCHEMA)
    yield store
    await store.engine.dispose()


def request(todos: int) -> Envelope:
    task_id = uuid4()
    snapshot = tuple(
        TodoSnapshot(
            id=number,
            title=f"Todo {number} with a title of some length",
            description="and a description to go with it, as people write them",
            completed=False,
            deadline_at=NOW + timedelta(days=number),
            created_at=NOW,
            updated_at=NOW,
        )
        for number in range(1, todos + 1)
    )
    # as todo_api publishes it: the todos, and the same by reference (a board edited here and
    # there, so the references take a few bytes a todo)
    refs = encode_refs((number, number % 3 + 1) for number in range(1, todos + 1))
    event = CalendarRequested(
        task_id=task_id, requested_at=NOW, todo_count=todos, todos=snapshot, todo_refs=refs
    )
    return wrap(
        event,
        stream_id=calendar_stream_id(task_id),
        stream_version=1,
        correlation_id=task_id,
        origin=ANONYMOUS_ORIGIN,
    )


def ready(task_id: UUID) -> Envelope:
    event = CalendarReady(task_id=task_id, blob_key="k", size_bytes=1, sha256="s", event_count=1)
    return wrap(
        event, stream_id=render_stream_id(task_id), stream_version=1, origin=ANONYMOUS_ORIGIN
    )


async def stored_bodies(store: EventStore) -> dict[str, int]:
    events = store.tables.events
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(events.c.event_id, func.length(events.c.body)))
        return {str(event_id): int(size) for event_id, size in rows}


async def test_a_request_is_kept_without_its_snapshot(store: EventStore) -> None:
    requested = request(TODOS)
    full_bytes = len(requested.to_json())

    assert await record_job_event(requested, SqlJobBook(store))
    sizes = await stored_bodies(store)
    log = [envelope for _, envelope in await EventQueries(store).read_all()]

    assert full_bytes > 20 * SLIM_BYTES
    assert sizes[str(requested.event_id)] < SLIM_BYTES
    (kept,) = log
    assert kept.event_id == requested.event_id
    assert isinstance(kept.data, CalendarRequested)
    assert kept.data.todos is None
    assert kept.data.todo_count == TODOS


async def test_a_rebuild_gives_the_row_the_live_fold_wrote(store: EventStore) -> None:
    slim, fat = request(TODOS), request(3)
    book = SqlJobBook(store)
    for envelope in (slim, fat, ready(task_of(slim)), ready(task_of(fat))):
        assert await record_job_event(envelope, book)
    # `fat` as the tracker stored requests before it kept them slim: with its snapshot
    events = store.tables.events
    async with store.transaction() as conn:
        await conn.execute(
            update(events).where(events.c.event_id == str(fat.event_id)).values(body=fat.to_json())
        )

    rebuilt = JobFold()
    for _, envelope in await EventQueries(store).read_all():
        rebuilt.apply(envelope)
    async with store.engine.connect() as conn:
        live = {task: await find_job(conn, task) for task in rebuilt.jobs}

    assert live == rebuilt.jobs
    assert {job.todo_count for job in rebuilt.jobs.values()} == {TODOS, 3}
    assert (await stored_bodies(store))[str(fat.event_id)] > SLIM_BYTES
