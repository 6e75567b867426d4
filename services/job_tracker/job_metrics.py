"""What the job tracker adds to its metrics: jobs by state, read at each scrape, and how long
each job took from its request to its outcome."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from services.job_tracker.app_keys import store_key
from services.job_tracker.jobs import Job, Status
from services.job_tracker.projection import JobFinished
from services.job_tracker.tables import jobs
from shared.app.app_keys import metrics_key
from shared.clock import utcnow
from shared.observability.metrics import JobMetrics, Samples

COUNT_BY_STATE = select(jobs.c.status, func.count()).group_by(jobs.c.status)


def add_job_metrics(app: web.Application) -> None:
    async def read() -> Samples:
        return await jobs_by_state(app)

    app[metrics_key].read_at_scrape(
        "calendar_jobs", "Calendar jobs by state (Celery's names)", ["state"], read
    )


async def jobs_by_state(app: web.Application) -> Samples:
    """Every state, those without jobs at 0, so each series exists from the start."""
    async with app[store_key].reading() as conn:
        rows = (await conn.execute(COUNT_BY_STATE)).tuples().all()
    counted = {str(status): int(count) for status, count in rows}
    return {(status.value,): float(counted.get(status.value, 0)) for status in Status}


def job_finished(metrics: JobMetrics) -> JobFinished:
    def observe(job: Job) -> None:
        assert job.requested_at is not None
        seconds = (utcnow() - job.requested_at).total_seconds()
        metrics.duration.labels(job.status.value).observe(max(0.0, seconds))

    return observe
