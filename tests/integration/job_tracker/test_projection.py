"""The job tracker's projection against real databases: duplicates and reordering are harmless."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from services.job_tracker.jobs import Status
from services.job_tracker.projection import JobFold, find_job, record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.app.resources import open_store
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import (
    CalendarFailed,
    CalendarReady,
    CalendarRequested,
    CalendarStarted,
)
from shared.contracts.streams import calendar_stream_id, render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.queries import EventQueries
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.factories import NOW, cancel_envelope, task_of
from tests.support.tracker_jobs import ParkedBook


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    store = await open_store(database, SCHEMA)
    yield store
    await store.engine.dispose()


def job_history(*, succeed: bool) -> list[Envelope]:
    task_id = uuid4()
    render = render_stream_id(task_id)
    outcome = (
        CalendarReady(task_id=task_id, blob_key="k", size_bytes=1, sha256="s", event_count=0)
        if succeed
        else CalendarFailed(task_id=task_id, reason="boom", attempts=2)
    )
    return [
        wrap(
            CalendarRequested(task_id=task_id, requested_at=NOW, todo_count=0, todos=()),
            stream_id=calendar_stream_id(task_id),
            stream_version=1,
            correlation_id=task_id,
            origin=ANONYMOUS_ORIGIN,
        ),
        wrap(
            CalendarStarted(task_id=task_id, attempt=1),
            stream_id=render,
            stream_version=1,
            origin=ANONYMOUS_ORIGIN,
        ),
        wrap(
            CalendarStarted(task_id=task_id, attempt=2),
            stream_id=render,
            stream_version=2,
            origin=ANONYMOUS_ORIGIN,
        ),
        wrap(outcome, stream_id=render, stream_version=3, origin=ANONYMOUS_ORIGIN),
    ]


async def stored_events(store: EventStore) -> int:
    async with store.engine.connect() as conn:
        query = select(func.count()).select_from(store.tables.events)
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.parametrize("succeed", [True, False])
async def test_shuffled_and_duplicated_deliveries_fold_to_the_in_order_job(
    store: EventStore, succeed: bool
) -> None:
    in_order, shuffled = job_history(succeed=succeed), job_history(succeed=succeed)
    deliveries = shuffled * 2
    random.Random(7).shuffle(deliveries)

    for envelope in in_order:
        assert await record_job_event(envelope, SqlJobBook(store))
    outcomes = [await record_job_event(envelope, SqlJobBook(store)) for envelope in deliveries]

    async with store.engine.connect() as conn:
        expected = await find_job(conn, task_of(in_order[0]))
        actual = await find_job(conn, task_of(shuffled[0]))
    assert expected is not None
    assert actual is not None
    assert actual.status is (Status.SUCCESS if succeed else Status.FAILURE)
    assert (actual.status, actual.attempt, actual.error, actual.result_key) == (
        expected.status,
        expected.attempt,
        expected.error,
        expected.result_key,
    )
    assert outcomes.count(True) == len(shuffled)
    assert await stored_events(store) == len(in_order) + len(shuffled)


@pytest.fixture
async def postgres_store(postgres_schema: str) -> AsyncIterator[EventStore]:
    settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema)
    store = await open_store(settings, SCHEMA)
    yield store
    await store.engine.dispose()


async def test_two_folds_that_commit_out_of_log_order_leave_the_row_a_rebuild_makes(
    postgres_store: EventStore,
) -> None:
    """The client's cancel is stored first and folded last: the ready render, stored after it,
    folds in between. The row and a fold of the log in position order must agree."""
    requested, _, _, ready = job_history(succeed=True)
    task_id = task_of(requested)
    cancelled = cancel_envelope(task_id)
    book = SqlJobBook(postgres_store)
    assert await record_job_event(requested, book)

    async def fold_the_outcome_meanwhile() -> None:
        assert await record_job_event(ready, book)

    parked = ParkedBook(book, fold_the_outcome_meanwhile, after="append_to_log")
    assert await record_job_event(cancelled, parked)

    log = [envelope for _, envelope in await EventQueries(postgres_store).read_all()]
    assert [envelope.type for envelope in log] == [
        "CalendarRequested",
        "CalendarCancelled",
        "CalendarReady",
    ]
    rebuilt = JobFold()
    for envelope in log:
        rebuilt.apply(envelope)
    async with postgres_store.engine.connect() as conn:
        live = await find_job(conn, task_id)
    assert live is not None
    assert live == rebuilt.jobs[task_id]
    assert live.status is Status.SUCCESS
