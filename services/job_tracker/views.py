"""Job status, result and history: plain reads of the jobs table, the file streamed from the
blob store; each shows the request's principal its own tenant's jobs only.

The principal is the one the authentication middleware put on the request: the tracker's own, or
todo_api's when the embedded mode calls these views in process with todo_api's request. Another
tenant's job answers exactly as a job that does not exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from aiohttp import web

from services.job_tracker.app_keys import blobs_key, settings_key, store_key
from services.job_tracker.history import (
    BadHistoryQueryError,
    encode_cursor,
    history_page,
    history_query,
)
from services.job_tracker.jobs import Job, Status
from services.job_tracker.retention import (
    TrackedJob,
    find_tracked,
    note_found,
    note_lost,
)
from shared.auth.middleware import principal_key
from shared.aws.blobs import BlobNotFoundError
from shared.clock import utcnow
from shared.contracts.responses import (
    TERMINAL_STATUSES,
    JobHistory,
    JobSummary,
    Progress,
    TaskStatus,
)
from shared.contracts.task_ids import is_issued, parse_task_id
from shared.web.http import bad_request, json_response, not_found, public_url

TASK_NOT_FOUND = "Task not found"
TASK_NOT_FINISHED = "Task not finished"
RESULT_EXPIRED = "Task result expired"


async def status_view(request: web.Request) -> web.Response:
    return await job_status(request.app, request)


async def result_view(request: web.Request) -> web.StreamResponse:
    return await job_result(request.app, request)


async def history_view(request: web.Request) -> web.Response:
    return await job_history(request.app, request)


async def job_status(app: web.Application, request: web.Request) -> web.Response:
    """The status of the path's job, answered from `app`'s tables (any app's request will do)."""
    answer = await status_answer(app, request)
    return json_response(answer.status, exclude=set(answer.hidden))


@dataclass(frozen=True)
class StatusAnswer:
    """A job's status and the keys its JSON leaves out."""

    status: TaskStatus
    hidden: frozenset[str]

    @property
    def finished(self) -> bool:
        return self.status.task_status in TERMINAL_STATUSES

    def json(self) -> str:
        return self.status.model_dump_json(exclude=set(self.hidden))


async def status_answer(app: web.Application, request: web.Request) -> StatusAnswer:
    """What the status route answers for the path's job now (404 as it does)."""
    task_id, tracked = await _job(app, request)
    job, expired = tracked.job, tracked.expired(utcnow(), _ttl(app))
    status = TaskStatus(
        task_id=task_id,
        task_status=job.status.value,
        result_url=_result_url(request, task_id),
        error=job.error,
        progress=_progress(job),
        expired=expired or None,
    )
    # the practical's clients expect exactly three keys; a failure adds its reason, a large
    # calendar's render how far it has got, and a success whose file is gone says so
    hidden = set() if job.status is Status.FAILURE else {"error"}
    if status.progress is None:
        hidden.add("progress")
    if not expired:
        hidden.add("expired")
    return StatusAnswer(status, frozenset(hidden))


def _progress(job: Job) -> Progress | None:
    if job.progress_done is None or job.progress_total is None:
        return None
    return Progress(done=job.progress_done, total=job.progress_total)


async def job_result(app: web.Application, request: web.Request) -> web.StreamResponse:
    """The path's calendar file, streamed from `app`'s blob store. A store that fails once the
    response has begun cuts the download short (shared/web/http.py::json_errors)."""
    task_id, tracked = await _job(app, request)
    job = tracked.job
    if job.status is not Status.SUCCESS or job.result_key is None:
        raise not_found(TASK_NOT_FINISHED)
    if tracked.too_old(utcnow(), _ttl(app)):
        raise result_expired()
    chunks = app[blobs_key].stream(job.result_key)
    try:
        # before any header is sent: a missing file can still be answered with a 410
        first = await anext(chunks, b"")
    except BlobNotFoundError:
        await note_lost(app[store_key], task_id)
        raise result_expired() from None
    if tracked.lost:
        await note_found(app[store_key], task_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": f'attachment; filename="taskoverflow-{task_id}.ics"',
        }
    )
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def job_history(app: web.Application, request: web.Request) -> web.Response:
    """A page of the jobs, newest request first (`?state=&limit=&cursor=`)."""
    try:
        query = history_query(request.query)
    except BadHistoryQueryError as exc:
        raise bad_request(str(exc)) from None
    async with app[store_key].reading() as conn:
        page = await history_page(conn, request[principal_key].tenant, query)
    now, ttl = utcnow(), _ttl(app)
    history = JobHistory(
        jobs=[_summary(request, tracked, tracked.expired(now, ttl)) for tracked in page.jobs],
        next_cursor=None if page.next_after is None else encode_cursor(page.next_after),
    )
    return json_response(history)


def _summary(request: web.Request, tracked: TrackedJob, expired: bool) -> JobSummary:
    job = tracked.job
    assert job.requested_at is not None, "the history lists requested jobs only"
    downloadable = job.status is Status.SUCCESS and not expired
    return JobSummary(
        task_id=job.task_id,
        task_status=job.status.value,
        requested_at=job.requested_at,
        finished_at=job.finished_at,
        todo_count=job.todo_count,
        size_bytes=job.size_bytes,
        error=job.error,
        result_url=_result_url(request, job.task_id) if downloadable else None,
        expired=expired,
    )


def result_expired() -> web.HTTPGone:
    return web.HTTPGone(text=json.dumps({"error": RESULT_EXPIRED}), content_type="application/json")


def _result_url(request: web.Request, task_id: UUID) -> str:
    return public_url(request, f"/api/v1/todos/ical/{task_id}/result")


def _ttl(app: web.Application) -> timedelta:
    return app[settings_key].result_ttl


async def _job(app: web.Application, request: web.Request) -> tuple[UUID, TrackedJob]:
    """The principal's tenant's job for the path's task id; PENDING for an id issued to the
    tenant whose job is not here yet; else 404 (an id issued to another tenant too)."""
    task_id = issued_task_id(app, request)
    tenant = request[principal_key].tenant
    tracked = await find_tracked(app[store_key], task_id)
    if tracked is None:
        return task_id, TrackedJob(Job(task_id=task_id, tenant=tenant))
    if tracked.job.tenant != tenant:
        raise not_found(TASK_NOT_FOUND)
    return task_id, tracked


def issued_task_id(app: web.Application, request: web.Request) -> UUID:
    """The path's task id if it was issued to the principal's tenant, else 404 (no read)."""
    task_id = parse_task_id(request.match_info["task_id"])
    tenant = request[principal_key].tenant
    if task_id is None or not is_issued(app[settings_key].task_secret, task_id, tenant):
        raise not_found(TASK_NOT_FOUND)
    return task_id
