"""The job tracker's URL table."""

from __future__ import annotations

from aiohttp import web

from services.job_tracker import ops_views, views
from shared.app.readiness import queue_found, readiness
from shared.contracts.ops_report import JOBS_OVERVIEW_PATH
from shared.contracts.topology import JOB_TRACKER
from shared.web.http import health


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/ready", readiness(queue_found(JOB_TRACKER)))
    app.router.add_get("/api/v1/todos/ical", views.history_view)
    app.router.add_get("/api/v1/todos/ical/{task_id}/status", views.status_view)
    app.router.add_get("/api/v1/todos/ical/{task_id}/result", views.result_view)
    app.router.add_get(JOBS_OVERVIEW_PATH, ops_views.jobs_overview_view)
