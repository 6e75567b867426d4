"""The operations page's jobs figures, read from the tracker's table (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.job_tracker.jobs import Job, Status
from services.job_tracker.overview import BUCKET_S, LATEST, WINDOW_S, jobs_overview
from services.job_tracker.records import job_values
from services.job_tracker.tables import SCHEMA, jobs
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.stores import service_store

# the current bucket began at 12:00:00, 7.25 s before NOW
NOW = datetime(2030, 5, 6, 12, 0, 7, 250000)
CURRENT_BUCKET = datetime(2030, 5, 6, 12, 0, 0)


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    async with service_store(database, SCHEMA) as opened:
        yield opened


async def add_jobs(store: EventStore, *rows: tuple[Job, datetime]) -> None:
    """Each job last changed at its time, which is also when a finished one finished."""
    async with store.transaction() as conn:
        await conn.execute(jobs.insert(), [job_values(_at(job, when), when) for job, when in rows])


def _at(job: Job, when: datetime) -> Job:
    finished = job.status in (Status.SUCCESS, Status.FAILURE, Status.REVOKED)
    return dataclasses.replace(job, finished_at=when) if finished else job


def job(status: Status, **fields: Any) -> Job:
    return Job(task_id=uuid4(), status=status, **fields)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


class TestJobsByState:
    async def test_every_state_is_counted_and_those_without_jobs_are_zero(
        self, store: EventStore
    ) -> None:
        await add_jobs(
            store,
            (job(Status.SUCCESS), ago(1)),
            (job(Status.SUCCESS), ago(3600)),
            (job(Status.PENDING), ago(2)),
        )

        overview = await jobs_overview(store, NOW)

        assert overview.by_state == {status.value: 0 for status in Status} | {
            "PENDING": 1,
            "SUCCESS": 2,
        }


class TestThroughput:
    async def test_finished_jobs_are_counted_in_the_bucket_they_finished_in(
        self, store: EventStore
    ) -> None:
        await add_jobs(
            store,
            (job(Status.SUCCESS), ago(0.5)),
            (job(Status.SUCCESS), ago(8)),
            (job(Status.FAILURE, error="boom"), ago(9)),
            (job(Status.SUCCESS), ago(10)),
            (job(Status.SUCCESS), ago(WINDOW_S - 10)),
            # unfinished jobs and jobs before the window are not throughput
            (job(Status.STARTED), ago(1)),
            (job(Status.SUCCESS), ago(WINDOW_S + 30)),
        )

        overview = await jobs_overview(store, NOW)

        buckets = overview.throughput
        assert overview.bucket_s == BUCKET_S
        assert len(buckets) == WINDOW_S // BUCKET_S
        assert buckets[-1].start == CURRENT_BUCKET
        assert (buckets[-1].succeeded, buckets[-1].failed) == (1, 0)
        assert (buckets[-2].succeeded, buckets[-2].failed) == (2, 1)
        assert (buckets[0].succeeded, buckets[0].failed) == (1, 0)
        assert sum(bucket.succeeded + bucket.failed for bucket in buckets) == 5

    async def test_buckets_are_consecutive_and_the_current_one_covers_only_the_time_so_far(
        self, store: EventStore
    ) -> None:
        buckets = (await jobs_overview(store, NOW)).throughput

        starts = [bucket.start for bucket in buckets]
        assert starts == [
            CURRENT_BUCKET - timedelta(seconds=BUCKET_S * back)
            for back in reversed(range(len(buckets)))
        ]
        assert [bucket.seconds for bucket in buckets[:-1]] == [BUCKET_S] * (len(buckets) - 1)
        assert buckets[-1].seconds == 8


class TestLatest:
    async def test_the_latest_jobs_come_newest_first_and_at_most_a_few(
        self, store: EventStore
    ) -> None:
        rows = [(job(Status.SUCCESS, todo_count=n), ago(n)) for n in range(LATEST + 3)]
        await add_jobs(store, *rows)

        recent = (await jobs_overview(store, NOW)).recent

        assert [entry.task_id for entry in recent] == [each.task_id for each, _ in rows[:LATEST]]
        assert recent[0].task_status == "SUCCESS"
        assert recent[0].todo_count == 0
        assert recent[0].updated_at == ago(0)

    async def test_failures_carry_their_reason_and_attempts_newest_first(
        self, store: EventStore
    ) -> None:
        older = job(Status.FAILURE, error="The todo snapshot is missing", attempt=1)
        newer = job(Status.FAILURE, error="Rendering failed", attempt=3)
        await add_jobs(store, (older, ago(300)), (newer, ago(5)), (job(Status.SUCCESS), ago(1)))

        failures = (await jobs_overview(store, NOW)).failures

        assert [(f.task_id, f.error, f.attempts) for f in failures] == [
            (newer.task_id, "Rendering failed", 3),
            (older.task_id, "The todo snapshot is missing", 1),
        ]
        assert failures[0].failed_at == ago(5)
