"""The job tracker's URL table."""

from __future__ import annotations

from aiohttp import web

from services.job_tracker import in_flight, job_events, ops_views, views
from shared.app.readiness import NotReady, Readiness, queue_found, readiness
from shared.contracts.ops_report import JOBS_OVERVIEW_PATH, JobsOverview
from shared.contracts.responses import (
    IN_FLIGHT_PATH,
    JOB_EVENTS_PATH,
    JOB_EVENTS_SUMMARY,
    Error,
    Health,
    JobHistory,
    JobsInFlight,
    TaskStatus,
)
from shared.contracts.topology import JOB_TRACKER
from shared.web.http import health
from shared.web.openapi import Route, add_routes
from shared.web.sse import RESUME_HEADER

ROUTES: list[Route] = [
    Route("GET", "/api/v1/health", health, "Is the service up", responses={200: Health}, head=True),
    Route(
        "GET",
        "/api/v1/ready",
        readiness(queue_found(JOB_TRACKER)),
        "Can this instance serve: do its database and broker answer",
        responses={200: Readiness, 503: NotReady},
        head=True,
    ),
    Route(
        "GET",
        "/api/v1/todos/ical",
        views.history_view,
        "Calendar jobs, newest first, a page at a time",
        responses={200: JobHistory, 400: Error},
        head=True,
    ),
    Route(
        "GET",
        IN_FLIGHT_PATH,
        in_flight.in_flight_view,
        "How many of the tenant's calendar jobs are not yet finished (todo_api's cap asks)",
        responses={200: JobsInFlight},
        head=True,
    ),
    Route(
        "GET",
        "/api/v1/todos/ical/{task_id}/status",
        views.status_view,
        "Where a calendar job stands (Celery state names)",
        responses={200: TaskStatus, 404: Error},
        head=True,
    ),
    Route(
        "GET",
        JOB_EVENTS_PATH,
        job_events.events_view,
        JOB_EVENTS_SUMMARY,
        responses={
            200: "text/event-stream",
            204: "The job has finished and Last-Event-ID names its final state",
            404: Error,
            503: Error,
        },
        query=(RESUME_HEADER,),
    ),
    Route(
        "GET",
        "/api/v1/todos/ical/{task_id}/result",
        views.result_view,
        "Download a finished calendar",
        responses={200: "text/calendar", 404: Error, 410: Error},
        head=True,
    ),
    Route(
        "GET",
        JOBS_OVERVIEW_PATH,
        ops_views.jobs_overview_view,
        "The jobs in figures, for the operations page",
        responses={200: JobsOverview},
        head=True,
    ),
]


def setup_routes(app: web.Application) -> None:
    add_routes(app, ROUTES)
