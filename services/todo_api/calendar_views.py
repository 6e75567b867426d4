"""The calendar job request: record CalendarRequested, answer 202 at once."""

from __future__ import annotations

from aiohttp import web

from services.todo_api import handlers
from services.todo_api.commands import RequestCalendar
from services.todo_api.keys import blobs_key, book_key, settings_key
from shared.contract import TaskAccepted
from shared.http import json_response, public_url
from shared.task_ids import issue_task_id
from shared.tracing import bind_job


async def request_calendar_view(request: web.Request) -> web.Response:
    command = RequestCalendar(task_id=issue_task_id(request.app[settings_key].task_secret))
    bind_job(command.task_id)
    await handlers.request_calendar(command, request.app[book_key], request.app[blobs_key])
    status_url = public_url(request, f"/api/v1/todos/ical/{command.task_id}/status")
    accepted = TaskAccepted(task_id=command.task_id, task_url=status_url)
    return json_response(accepted, status=202)
