"""The job tracker's projection against real databases: duplicates and reordering are harmless."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from services.job_tracker.jobs import Status
from services.job_tracker.projection import find_job, record_job_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.envelope import Envelope, wrap
from shared.events import CalendarFailed, CalendarReady, CalendarRequested, CalendarStarted
from shared.runtime import open_store
from shared.settings import Settings
from shared.store import EventStore
from tests.factories import NOW, task_of


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    store = await open_store(database, SCHEMA)
    yield store
    await store.engine.dispose()


def job_history(*, succeed: bool) -> list[Envelope]:
    task_id = uuid4()
    render = f"render-{task_id}"
    outcome = (
        CalendarReady(task_id=task_id, blob_key="k", size_bytes=1, sha256="s", event_count=0)
        if succeed
        else CalendarFailed(task_id=task_id, reason="boom", attempts=2)
    )
    return [
        wrap(
            CalendarRequested(task_id=task_id, requested_at=NOW, todo_count=0, todos=()),
            stream_id=f"calendar-{task_id}",
            stream_version=1,
            correlation_id=task_id,
        ),
        wrap(CalendarStarted(task_id=task_id, attempt=1), stream_id=render, stream_version=1),
        wrap(CalendarStarted(task_id=task_id, attempt=2), stream_id=render, stream_version=2),
        wrap(outcome, stream_id=render, stream_version=3),
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
