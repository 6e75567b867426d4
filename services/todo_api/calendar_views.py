"""Calendar jobs: the request records CalendarRequested (within the cap on the tenant's jobs in
flight, jobs_cap.py) and the cancel CalendarCancelled, each answered 202 at once (the cancel
takes effect when the calendar worker revokes the job); a job's status, result and the history
are the job tracker's answers (the Tracker port, tracker.py)."""

from __future__ import annotations

import functools

from aiohttp import web

from services.todo_api import handlers
from services.todo_api.app_keys import blobs_key, settings_key, tracker_key
from services.todo_api.commands import CancelCalendar, RequestCalendar
from services.todo_api.idempotency import KeyReusedError
from services.todo_api.jobs_cap import Admission, TooManyJobsError, jobs_cap
from services.todo_api.limit_fields import add_limit_fields
from services.todo_api.todo import CalendarFinishedError, CalendarNotFoundError
from services.todo_api.views import acting_book, keyed_request
from shared.auth.middleware import principal_key
from shared.contracts.responses import TaskAccepted, TaskCancelled
from shared.contracts.task_ids import is_issued, issue_task_id, parse_task_id
from shared.observability.tracing import bind_job
from shared.web.http import json_error, json_response, not_found, public_url

TASK_NOT_FOUND = "Task not found"


async def request_calendar_view(request: web.Request) -> web.Response:
    keyed = keyed_request(request)
    settings = request.app[settings_key]
    tenant = request[principal_key].tenant
    command = RequestCalendar(task_id=issue_task_id(settings.task_secret, tenant))
    book, blobs = acting_book(request), request.app[blobs_key]
    admission = Admission(jobs_cap(settings), request.app[tracker_key], request)
    try:
        task_id = await handlers.request_calendar(command, book, blobs, keyed, admission.admit)
    except KeyReusedError as exc:
        return json_error(str(exc), 422)
    except TooManyJobsError:
        return admission.refusal()
    # the job this answer is about: a new one, or the one the key started before
    bind_job(task_id)
    status_url = public_url(request, f"/api/v1/todos/ical/{task_id}/status")
    accepted = json_response(TaskAccepted(task_id=task_id, task_url=status_url), status=202)
    add_limit_fields(accepted, admission.fields())
    return accepted


async def cancel_calendar_view(request: web.Request) -> web.Response:
    """202 with the job's status now (REVOKED once the worker revoked it), also when cancelled
    already; 404 for a job never requested (or requested by another tenant), 409 for one that
    has its outcome."""
    task_id = parse_task_id(request.match_info["task_id"])
    # an id this service never issued to the principal's tenant needs no read to be unknown
    tenant = request[principal_key].tenant
    if task_id is None or not is_issued(request.app[settings_key].task_secret, task_id, tenant):
        raise not_found(TASK_NOT_FOUND)
    bind_job(task_id)
    job_status = functools.partial(request.app[tracker_key].task_status, request, task_id)
    try:
        status = await handlers.cancel_calendar(
            CancelCalendar(task_id), acting_book(request), job_status
        )
    except CalendarNotFoundError:
        raise not_found(TASK_NOT_FOUND) from None
    except CalendarFinishedError:
        return json_error("Task already finished", 409)
    status_url = public_url(request, f"/api/v1/todos/ical/{task_id}/status")
    cancelled = TaskCancelled(task_id=task_id, task_status=status, task_url=status_url)
    return json_response(cancelled, status=202)


async def job_status_route(request: web.Request) -> web.StreamResponse:
    return await request.app[tracker_key].status(request)


async def job_events_route(request: web.Request) -> web.StreamResponse:
    return await request.app[tracker_key].events(request)


async def job_result_route(request: web.Request) -> web.StreamResponse:
    return await request.app[tracker_key].result(request)


async def job_history_route(request: web.Request) -> web.StreamResponse:
    return await request.app[tracker_key].history(request)
