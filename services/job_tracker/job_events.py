"""A job's status as Server-Sent Events (`GET /api/v1/todos/ical/{task_id}/events`): the status
at once, then each change, until a terminal state ends the stream.

Each event's data is the status route's JSON, and its id names that state (`state_id`): equal
states, equal ids. A client that comes back with `Last-Event-ID` is sent the current state unless
it is the one it named; a finished job whose final state the client has answers 204, which tells
an EventSource not to come back again. Only the current state is ever sent, never an older one.

Wake-ups come from the job changes port (job_changes.py); each one, and each keep-alive comment
(JOB_EVENTS_KEEPALIVE_MS without a change), is followed by a read of the row, the one truth.
At most JOB_EVENTS_MAX_STREAMS streams are open in a process; one more answers 503.
"""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from services.job_tracker.app_keys import job_changes_key, settings_key, stream_slots_key
from services.job_tracker.job_changes import Wakeup
from services.job_tracker.views import StatusAnswer, issued_task_id, status_answer
from shared.web.sse import HEADERS, KEEPALIVE, LAST_EVENT_ID, sse_event

STREAMS_FULL = "Too many job event streams are open; ask the status route instead"
# the parts of a status that make its state (the result URL depends on the host asked)
STATE_FIELDS = ("task_status", "error", "progress", "expired")


def state_id(answer: StatusAnswer) -> str:
    """The event id of a job's state: a digest of what the client is shown of it."""
    shown = answer.status.model_dump(mode="json", include=set(STATE_FIELDS) - answer.hidden)
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()
    return digest[:16]


async def events_view(request: web.Request) -> web.StreamResponse:
    return await job_events(request.app, request)


async def job_events(app: web.Application, request: web.Request) -> web.StreamResponse:
    """The path's job's events, from `app`'s tables and changes (any app's request will do)."""
    task_id = issued_task_id(app, request)
    slots = app[stream_slots_key]
    if not slots.take():
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": STREAMS_FULL}), content_type="application/json"
        )
    try:
        # watching before the first read: a change committed after the read wakes this stream
        with app[job_changes_key].watching(task_id) as wakeup:
            return await _stream(app, request, wakeup)
    finally:
        slots.give_back()


async def _stream(app: web.Application, request: web.Request, wakeup: Wakeup) -> web.StreamResponse:
    answer = await status_answer(app, request)
    sent = request.headers.get(LAST_EVENT_ID)
    if answer.finished and state_id(answer) == sent:
        # nothing more will come: an EventSource answered 204 does not reconnect
        return web.Response(status=204)
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    keepalive_s = app[settings_key].job_events_keepalive_ms / 1000
    while True:
        event_id = state_id(answer)
        if event_id != sent:
            await response.write(sse_event(event_id, answer.json()))
            sent = event_id
        if answer.finished or wakeup.ended:
            break
        if not await wakeup.wait(keepalive_s):
            await response.write(KEEPALIVE)
        # woken or not: a lost wake-up costs at most one keep-alive interval
        answer = await status_answer(app, request)
    await response.write_eof()
    return response


def end_streams(app: web.Application) -> None:
    """End `app`'s open streams (shutdown): their clients come back to another instance."""
    app[job_changes_key].end_all()
