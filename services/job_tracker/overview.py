"""The jobs table in figures, for the operations page: counts and the latest rows, bounded.

Throughput is finished jobs per bucket of `finished_at`, the time of the event that decided the
outcome: a late event or a rebuild of the table never moves it. Each query reads one of the
jobs table's indexes (tables.py): the latest rows and the window's finished jobs come without a
sort or a pass over the table; the count by state reads the state index.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.job_tracker.jobs import Status
from services.job_tracker.tables import jobs
from shared.clock import utcnow
from shared.contracts.ops_report import FailedJob, JobsOverview, RecentJob, ThroughputBucket
from shared.eventstore.store import EventStore

WINDOW_S = 600
BUCKET_S = 10
LATEST = 10
EPOCH = datetime(1970, 1, 1)


async def jobs_overview(store: EventStore, now: datetime | None = None) -> JobsOverview:
    now = now or utcnow()
    async with store.reading() as conn:
        by_state = await _by_state(conn)
        throughput = await _throughput(conn, now)
        recent = await _recent(conn)
        failures = await _failures(conn)
    return JobsOverview(
        by_state=by_state,
        bucket_s=BUCKET_S,
        throughput=throughput,
        recent=recent,
        failures=failures,
    )


async def _by_state(conn: AsyncConnection) -> dict[str, int]:
    counted = await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    found = {str(status): int(count) for status, count in counted.all()}
    return {status.value: found.get(status.value, 0) for status in Status}


async def _throughput(conn: AsyncConnection, now: datetime) -> list[ThroughputBucket]:
    """Jobs finished per BUCKET_S over the last WINDOW_S, the current bucket last."""
    current = int((now - EPOCH).total_seconds()) // BUCKET_S
    first = current - WINDOW_S // BUCKET_S + 1
    bucket = _bucket_of_finished_at(conn.dialect.name).label("bucket")
    query = (
        select(bucket, jobs.c.status, func.count())
        .where(jobs.c.status.in_([Status.SUCCESS.value, Status.FAILURE.value]))
        .where(jobs.c.finished_at >= _start_of(first))
        .group_by(bucket, jobs.c.status)
    )
    counts: dict[tuple[int, str], int] = {}
    for key, status, count in (await conn.execute(query)).all():
        counts[int(key), str(status)] = int(count)
    return [
        _bucket(key, counts, now, is_current=key == current) for key in range(first, current + 1)
    ]


def _bucket_of_finished_at(dialect: str) -> Any:
    """The BUCKET_S-long slice of time since 1970 that `finished_at` (naive UTC) falls in."""
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", jobs.c.finished_at) / BUCKET_S)
    # SQLite: strftime('%s') reads the stored text as UTC; integers divide without a fraction
    return cast(func.strftime("%s", jobs.c.finished_at), Integer) // BUCKET_S


def _start_of(key: int) -> datetime:
    return EPOCH + timedelta(seconds=key * BUCKET_S)


def _bucket(
    key: int, counts: dict[tuple[int, str], int], now: datetime, *, is_current: bool
) -> ThroughputBucket:
    start = _start_of(key)
    elapsed_s = math.ceil((now - start).total_seconds())
    return ThroughputBucket(
        start=start,
        seconds=max(1, min(BUCKET_S, elapsed_s)) if is_current else BUCKET_S,
        succeeded=counts.get((key, Status.SUCCESS.value), 0),
        failed=counts.get((key, Status.FAILURE.value), 0),
    )


async def _recent(conn: AsyncConnection) -> list[RecentJob]:
    query = select(jobs).order_by(jobs.c.updated_at.desc()).limit(LATEST)
    return [
        RecentJob(
            task_id=row.task_id,
            task_status=row.status,
            todo_count=row.todo_count,
            updated_at=row.updated_at,
        )
        for row in (await conn.execute(query)).all()
    ]


async def _failures(conn: AsyncConnection) -> list[FailedJob]:
    query = (
        select(jobs)
        .where(jobs.c.status == Status.FAILURE.value)
        .order_by(jobs.c.finished_at.desc())
        .limit(LATEST)
    )
    return [
        FailedJob(
            task_id=row.task_id, error=row.error, attempts=row.attempt, failed_at=row.finished_at
        )
        for row in (await conn.execute(query)).all()
    ]
