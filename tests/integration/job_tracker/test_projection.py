"""The job tracker's projection against real databases: duplicates and reordering are harmless."""

from __future__ import annotations

import asyncio
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
from tests.support.factories import NOW, task_of
from tests.support.tracker_jobs import MeetingBook

# two folds meet after their reads, then both write: a fold that cannot meet the other fails
RACE_TIMEOUT_S = 30.0


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


async def test_two_events_of_a_new_job_both_read_before_either_writes_each_fold(
    postgres_store: EventStore,
) -> None:
    """Neither finds a row, so neither holds a lock: the second's insert meets the first's row,
    and it folds into that row instead. The row has both events, as a fold of the log makes it,
    and the log holds them in the order they folded."""
    requested, _, _, ready = job_history(succeed=True)
    task_id = task_of(requested)
    book = MeetingBook(SqlJobBook(postgres_store), asyncio.Barrier(2))

    async with asyncio.timeout(RACE_TIMEOUT_S):
        outcomes = await asyncio.gather(
            record_job_event(requested, book), record_job_event(ready, book)
        )

    assert list(outcomes) == [True, True]
    log = [envelope for _, envelope in await EventQueries(postgres_store).read_all()]
    assert sorted(envelope.type for envelope in log) == ["CalendarReady", "CalendarRequested"]
    rebuilt = JobFold()
    for envelope in log:
        rebuilt.apply(envelope)
    async with postgres_store.engine.connect() as conn:
        live = await find_job(conn, task_id)
    assert live is not None
    assert live == rebuilt.jobs[task_id]
    assert (live.status, live.requested_at, live.result_key) == (Status.SUCCESS, NOW, "k")


async def test_two_deliveries_of_one_event_both_read_before_either_writes_fold_it_once(
    postgres_store: EventStore,
) -> None:
    requested = job_history(succeed=True)[0]
    book = MeetingBook(SqlJobBook(postgres_store), asyncio.Barrier(2))

    async with asyncio.timeout(RACE_TIMEOUT_S):
        outcomes = await asyncio.gather(
            record_job_event(requested, book), record_job_event(requested, book)
        )

    assert sorted(outcomes) == [False, True]
    assert await stored_events(postgres_store) == 1
    async with postgres_store.engine.connect() as conn:
        handled = await conn.scalar(select(func.count()).select_from(postgres_store.tables.inbox))
        live = await find_job(conn, task_of(requested))
    assert handled == 1
    assert live is not None
    assert live.requested_at == NOW
