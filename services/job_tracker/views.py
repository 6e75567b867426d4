"""Job status and result: plain reads of the jobs table, the file streamed from the blob store."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from services.job_tracker.jobs import Job, Status
from services.job_tracker.keys import blobs_key, settings_key, store_key
from services.job_tracker.projection import find_job
from shared.blobs import BlobNotFoundError
from shared.contract import Progress, TaskStatus
from shared.http import json_response, not_found, public_url
from shared.task_ids import is_issued, parse_task_id

TASK_NOT_FOUND = "Task not found"
TASK_NOT_FINISHED = "Task not finished"


async def status_view(request: web.Request) -> web.Response:
    return await job_status(request.app, request)


async def result_view(request: web.Request) -> web.StreamResponse:
    return await job_result(request.app, request)


async def job_status(app: web.Application, request: web.Request) -> web.Response:
    """The status of the path's job, answered from `app`'s tables (any app's request will do)."""
    task_id, job = await _job(app, request)
    status = TaskStatus(
        task_id=task_id,
        task_status=job.status.value,
        result_url=public_url(request, f"/api/v1/todos/ical/{task_id}/result"),
        error=job.error,
        progress=_progress(job),
    )
    # the practical's clients expect exactly three keys; a failure adds its reason, a large
    # calendar's render how far it has got
    hidden = set() if job.status is Status.FAILURE else {"error"}
    if status.progress is None:
        hidden.add("progress")
    return json_response(status, exclude=hidden)


def _progress(job: Job) -> Progress | None:
    if job.progress_done is None or job.progress_total is None:
        return None
    return Progress(done=job.progress_done, total=job.progress_total)


async def job_result(app: web.Application, request: web.Request) -> web.StreamResponse:
    """The path's calendar file, streamed from `app`'s blob store."""
    task_id, job = await _job(app, request)
    if job.status is not Status.SUCCESS or job.result_key is None:
        raise not_found(TASK_NOT_FINISHED)
    chunks = app[blobs_key].stream(job.result_key)
    try:
        first = await anext(chunks, b"")
    except BlobNotFoundError:
        raise not_found("The calendar file is no longer stored") from None
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


async def _job(app: web.Application, request: web.Request) -> tuple[UUID, Job]:
    """The job for the path's task id; PENDING for an issued id not seen yet; else 404."""
    task_id = parse_task_id(request.match_info["task_id"])
    if task_id is None or not is_issued(app[settings_key].task_secret, task_id):
        raise not_found(TASK_NOT_FOUND)
    async with app[store_key].reading() as conn:
        job = await find_job(conn, task_id)
    return task_id, job or Job(task_id=task_id)
