"""The URL table of the todo API; the OpenAPI document is generated from it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.todo_api import dead_letter_views, feed_url_views, feed_views, ops_views, views
from services.todo_api.calendar_views import (
    cancel_calendar_view,
    job_events_route,
    job_history_route,
    job_result_route,
    job_status_route,
    request_calendar_view,
)
from services.todo_api.docs_views import (
    ASYNCAPI_PATH,
    DOCS_PATH,
    SWAGGER_UI_PREFIX,
    asyncapi_view,
    docs_page,
    swagger_ui_dir,
)
from services.todo_api.feed_url_views import FEED_URL_PATH, SECRET_FEED_PATH
from services.todo_api.idempotency import HEADER, MAX_KEY_CHARS
from services.todo_api.schemas import (
    AuthConfig,
    Deleted,
    FeedUrlIssued,
    FeedUrlState,
    Todo,
    TodoIn,
    TodoList,
    TodoPatch,
)
from services.todo_api.sign_in import AUTH_CONFIG_PATH, auth_config_view, page_response
from shared.app.readiness import NotReady, Readiness, readiness, topic_found
from shared.contracts.dead_letters import (
    DeadLetterDetail,
    DeadLettersReport,
    Discarded,
    DiscardRequest,
    RedriveRequest,
    Redrives,
    RedriveState,
)
from shared.contracts.ops_report import OpsReport
from shared.contracts.responses import (
    JOB_EVENTS_PATH,
    JOB_EVENTS_SUMMARY,
    Error,
    Health,
    JobHistory,
    TaskAccepted,
    TaskCancelled,
    TaskStatus,
)
from shared.web.http import health, json_response
from shared.web.openapi import Query, Route, add_routes, openapi_document
from shared.web.sse import RESUME_HEADER

STATIC_DIR = Path(__file__).parent / "static"
OPENAPI_PATH = "/api/v1/openapi.json"
DEAD_LETTERS_PATH = "/api/v1/ops/dead-letters"
TODO_PATH = "/api/v1/todos/{id}"
FILTERS = (
    Query("completed", "only completed (true) or open (false) todos", {"enum": ["true", "false"]}),
    Query("window", "deadline at most this many days from now", {"type": "integer", "minimum": 0}),
    Query(
        "limit",
        "at most this many todos (a full page links the next in a Link header)",
        {"type": "integer", "minimum": 1, "maximum": 1000},
    ),
    Query("after_id", "only todos with a higher id", {"type": "integer", "minimum": 0}),
)
HISTORY_FILTERS = (
    Query("state", "only jobs in this state: a task_status value", {"type": "string"}),
    Query(
        "limit",
        "at most this many jobs (default 20)",
        {"type": "integer", "minimum": 1, "maximum": 100},
    ),
    Query("cursor", "the next_cursor of the page before", {"type": "string"}),
)

IDEMPOTENCY_KEY = Query(
    HEADER,
    "retrying with the same key within 24 hours answers as the first time, with no second effect",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS},
    where="header",
)

ROUTES: list[Route] = [
    Route("GET", "/api/v1/health", health, "Is the service up", responses={200: Health}),
    Route(
        "GET",
        "/api/v1/ready",
        # the API publishes to the topic; it consumes no queue
        readiness(topic_found),
        "Can this instance serve: do its database and broker answer",
        responses={200: Readiness, 503: NotReady},
    ),
    Route(
        "GET",
        AUTH_CONFIG_PATH,
        auth_config_view,
        "Whether credentials are needed, and how the web page signs in",
        responses={200: AuthConfig},
    ),
    Route(
        "GET",
        "/api/v1/todos",
        views.list_view,
        "List todos in creation order",
        responses={200: TodoList, 400: Error},
        query=FILTERS,
    ),
    Route(
        "POST",
        "/api/v1/todos",
        views.create_view,
        "Create a todo",
        body=TodoIn,
        responses={201: Todo, 400: Error, 403: Error, 413: Error, 415: Error, 422: Error},
        query=(IDEMPOTENCY_KEY,),
    ),
    # before the todo routes: "calendar.ics" is no todo id
    Route(
        "GET",
        "/api/v1/todos/calendar.ics",
        feed_views.calendar_feed_view,
        "The current todos as a calendar to subscribe to (ETag, If-None-Match)",
        responses={200: "text/calendar", 304: "Not Modified: the todos are as tagged"},
    ),
    Route(
        "POST",
        FEED_URL_PATH,
        feed_url_views.issue_feed_url_view,
        "A new secret calendar feed URL, shown this once; the one before answers 404 from now on",
        responses={201: FeedUrlIssued, 403: Error},
    ),
    Route(
        "GET",
        FEED_URL_PATH,
        feed_url_views.feed_url_state_view,
        "Whether there is a calendar feed URL, and since when (never the URL)",
        responses={200: FeedUrlState},
    ),
    Route(
        "DELETE",
        FEED_URL_PATH,
        feed_url_views.revoke_feed_url_view,
        "Revoke the calendar feed URL: it answers 404 from now on",
        responses={200: FeedUrlState, 403: Error},
    ),
    Route(
        "GET",
        SECRET_FEED_PATH,
        feed_url_views.secret_feed_view,
        "The calendar feed through its secret URL, no credentials needed (ETag, If-None-Match)",
        responses={
            200: "text/calendar",
            304: "Not Modified: the todos are as tagged",
            404: Error,
        },
        head=True,
    ),
    Route(
        "POST",
        "/api/v1/todos/ical",
        request_calendar_view,
        "Start a calendar job for a snapshot of the todos",
        responses={202: TaskAccepted, 400: Error, 403: Error, 422: Error, 503: Error},
        query=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "GET",
        "/api/v1/todos/ical",
        job_history_route,
        "Calendar jobs, newest first, a page at a time",
        responses={200: JobHistory, 400: Error, 503: Error},
        query=HISTORY_FILTERS,
    ),
    Route(
        "DELETE",
        "/api/v1/todos/ical/{task_id}",
        cancel_calendar_view,
        "Cancel a calendar job not yet finished (REVOKED unless its render ends first)",
        responses={202: TaskCancelled, 403: Error, 404: Error, 409: Error, 503: Error},
    ),
    Route(
        "GET",
        "/api/v1/todos/ical/{task_id}/status",
        job_status_route,
        "Where a calendar job stands (Celery state names)",
        responses={200: TaskStatus, 404: Error, 503: Error},
    ),
    Route(
        "GET",
        JOB_EVENTS_PATH,
        job_events_route,
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
        job_result_route,
        "Download a finished calendar",
        responses={200: "text/calendar", 404: Error, 410: Error, 503: Error},
    ),
    Route("GET", TODO_PATH, views.get_view, "Get one todo", responses={200: Todo, 404: Error}),
    Route(
        "PUT",
        TODO_PATH,
        views.update_view,
        "Change some fields of a todo",
        body=TodoPatch,
        responses={
            200: Todo,
            400: Error,
            403: Error,
            404: Error,
            409: Error,
            413: Error,
            415: Error,
        },
    ),
    Route(
        "DELETE",
        TODO_PATH,
        views.delete_view,
        "Delete a todo",
        responses={200: Deleted, 403: Error},
    ),
    Route(
        "GET",
        "/api/v1/ops",
        ops_views.ops_report_view,
        "Jobs, queue and DLQ depths, and each service's readiness and outbox backlog",
        responses={200: OpsReport},
    ),
    Route(
        "GET",
        DEAD_LETTERS_PATH,
        dead_letter_views.dead_letters_view,
        "Every DLQ's messages grouped by event type and failure, and the latest discards",
        responses={200: DeadLettersReport},
    ),
    Route(
        "GET",
        f"{DEAD_LETTERS_PATH}/message",
        dead_letter_views.dead_letter_view,
        "One dead letter: its envelope (a claim-checked snapshot by key), receives, attributes",
        responses={200: DeadLetterDetail, 400: Error, 404: Error},
        query=(
            Query("queue", "the DLQ's name", {"type": "string"}),
            Query("message_id", "the message's id in it", {"type": "string"}),
        ),
    ),
    Route(
        "POST",
        f"{DEAD_LETTERS_PATH}/redrives",
        dead_letter_views.start_redrive_view,
        "Move a group or some messages of a DLQ back to its queue at a rate (messages/s)",
        body=RedriveRequest,
        responses={202: RedriveState, 400: Error, 404: Error, 415: Error},
    ),
    Route(
        "GET",
        f"{DEAD_LETTERS_PATH}/redrives",
        dead_letter_views.redrives_view,
        "The redrives this instance ran or runs, with their progress",
        responses={200: Redrives},
    ),
    Route(
        "POST",
        f"{DEAD_LETTERS_PATH}/discards",
        dead_letter_views.discard_view,
        "Delete a group or some messages of a DLQ, each recorded with the reason",
        body=DiscardRequest,
        responses={200: Discarded, 400: Error, 404: Error, 415: Error},
    ),
    Route("GET", "/ops", ops_views.ops_page, "The operations page", responses={200: "text/html"}),
]


async def index(request: web.Request) -> web.FileResponse:
    return await page_response(request, STATIC_DIR / "index.html")


def setup_routes(app: web.Application, routes: list[Route]) -> None:
    """`routes` and their OpenAPI document; the documents, the web page and the documentation
    page are served beside the routes the OpenAPI document describes, not described in it."""
    document = openapi_document("TaskOverflow Events", "1.0.0", routes)

    async def openapi(_request: web.Request) -> web.Response:
        return json_response(document)

    beside_the_api = [
        Route("GET", OPENAPI_PATH, openapi, "This document", head=True),
        Route(
            "GET", ASYNCAPI_PATH, asyncapi_view(), "The messaging's AsyncAPI document", head=True
        ),
        Route("GET", DOCS_PATH, docs_page, "Both documents, shown", head=True),
        Route("GET", "/", index, "The web page", responses={200: "text/html"}, head=True),
    ]
    add_routes(app, [*routes, *beside_the_api])
    # a Route is one method on one path; the static files are every path under a prefix, which
    # aiohttp's static resource serves (safe joins, conditional and ranged requests). Swagger
    # UI's, from its package, before the page's own, whose prefix also holds its prefix
    app.router.add_static(SWAGGER_UI_PREFIX, swagger_ui_dir())
    app.router.add_static("/static", STATIC_DIR)
