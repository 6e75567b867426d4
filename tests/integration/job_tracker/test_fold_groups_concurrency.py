"""Two groups folding the same jobs at once, handed them in opposite orders (two receives, or two
tracker replicas on PostgreSQL), both commit: each group locks its jobs' rows in task id order, so
neither holds a row the other waits for while waiting for one the other holds.

Each group pauses after its first lock until the other has taken its own first lock too, or for
LOCK_MEETING_S: taken in the order handed, the two would then hold one row each and wait for the
other's, which PostgreSQL ends by failing one of them (a deadlock) and SQLite never reaches (its
writers take turns)."""

from __future__ import annotations

import asyncio

from services.job_tracker.jobs import Status
from services.job_tracker.projection import record_job_events
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA, jobs
from shared.app.resources import open_store
from shared.contracts.envelope import Envelope
from shared.settings import Settings
from tests.support.factories import job_events
from tests.support.tracker_jobs import MeetingBook

LOCK_MEETING_S = 1.0


async def test_two_groups_of_the_same_jobs_in_opposite_orders_both_commit(
    database: Settings,
) -> None:
    store = await open_store(database, SCHEMA)
    try:
        meeting = asyncio.Barrier(2)
        book = MeetingBook(SqlJobBook(store), meeting, LOCK_MEETING_S)
        [first_requested, first_ready, second_requested, second_ready] = job_events(2)
        one_way: list[Envelope] = [first_requested, second_ready]
        other_way: list[Envelope] = [second_requested, first_ready]

        outcomes = await asyncio.gather(
            record_job_events(one_way, book), record_job_events(other_way, book)
        )

        assert list(outcomes) == [[True, True], [True, True]]
        async with store.reading() as conn:
            rows = (await conn.execute(jobs.select())).mappings().all()
        assert sorted(row["status"] for row in rows) == [Status.SUCCESS.value] * 2
    finally:
        await store.engine.dispose()
