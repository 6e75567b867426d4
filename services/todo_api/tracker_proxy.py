"""The job routes on the public base URL: forwarded to the job tracker, or in process.

Services started on their own forward over HTTP to JOB_TRACKER_URL; the embedded mode hands
todo_api the tracker's views, which saves a request per status poll. A cancel asks the tracker
the same way whether its job has finished.

The tracker may be silent for JOB_TRACKER_READ_TIMEOUT_MS at most; a transfer as a whole has no
limit, so a slow client still gets a large file. A tracker that fails or goes silent once the
answer has begun cuts the client's download short (shared/web/http.py::json_errors).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator
from uuid import UUID

import aiohttp
from aiohttp import web

from services.todo_api.app_keys import local_tracker_key, settings_key, tracker_client_key
from shared.aws.blobs import CHUNK_BYTES
from shared.contracts.trace_context import TRACEPARENT, current_traceparent
from shared.observability import log_context
from shared.observability.tracing import REQUEST_ID
from shared.outages import DependencyUnavailableError
from shared.settings import Settings
from shared.web.http import json_error

PASSED_HEADERS = ("Content-Type", "Content-Disposition")
NO_TRACKER = "Calendar jobs are not available: JOB_TRACKER_URL is not set"
# reaching the tracker, a pooled connection's wait included
CONNECT_TIMEOUT_S = 3.0


def tracker_timeout(settings: Settings) -> aiohttp.ClientTimeout:
    """Bounds on the tracker's silence (connecting, then between two reads), never on a whole
    transfer: a total would cut a large file to a slow client."""
    return aiohttp.ClientTimeout(
        total=None,
        connect=CONNECT_TIMEOUT_S,
        sock_read=settings.job_tracker_read_timeout_ms / 1000,
    )


async def job_status_route(request: web.Request) -> web.StreamResponse:
    if local := request.app.get(local_tracker_key):
        return await local.status(request)
    return await forward_to_tracker(request)


async def job_result_route(request: web.Request) -> web.StreamResponse:
    if local := request.app.get(local_tracker_key):
        return await local.result(request)
    return await forward_to_tracker(request)


async def job_history_route(request: web.Request) -> web.StreamResponse:
    local = request.app.get(local_tracker_key)
    if local is not None and local.history is not None:
        return await local.history(request)
    return await forward_to_tracker(request)


async def forward_to_tracker(request: web.Request) -> web.StreamResponse:
    tracker_url = request.app[settings_key].job_tracker_url
    if not tracker_url:
        return json_error(NO_TRACKER, 503)
    url = tracker_url.rstrip("/") + request.rel_url.raw_path_qs
    try:
        upstream = await request.app[tracker_client_key].get(url, headers=_forwarded(request))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DependencyUnavailableError(f"job tracker: {exc!r}") from exc
    async with upstream:
        return await _relay(request, upstream)


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status)
    for name in PASSED_HEADERS:
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name]
    await response.prepare(request)
    # the client's own connection failing is not the tracker's: only reads are the tracker's
    async with contextlib.aclosing(_body(upstream)) as chunks:
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


async def _body(upstream: aiohttp.ClientResponse) -> AsyncGenerator[bytes]:
    try:
        async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DependencyUnavailableError(f"job tracker: {exc!r}") from exc


async def tracker_job_status(request: web.Request, task_id: UUID) -> str:
    """The job's task_status as the tracker answers its status route (`request`: one whose path
    names the job)."""
    if local := request.app.get(local_tracker_key):
        answer = await local.status(request)
        assert isinstance(answer, web.Response), "the tracker's status view answers in full"
        return _task_status(answer.status, answer.text or "")
    tracker_url = request.app[settings_key].job_tracker_url
    if not tracker_url:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": NO_TRACKER}), content_type="application/json"
        )
    url = f"{tracker_url.rstrip('/')}/api/v1/todos/ical/{task_id}/status"
    try:
        async with request.app[tracker_client_key].get(
            url, headers=_forwarded(request)
        ) as upstream:
            return _task_status(upstream.status, await upstream.text())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DependencyUnavailableError(f"job tracker: {exc!r}") from exc


def _forwarded(request: web.Request) -> dict[str, str]:
    """The public host and scheme (the tracker builds absolute URLs from them), and the request's
    id and trace context, so the tracker's lines and spans join the request's."""
    headers = {"Host": request.host, "X-Forwarded-Proto": request.scheme}
    request_id = log_context.bound().get("request_id")
    if request_id is not None:
        headers[REQUEST_ID] = str(request_id)
    if (traceparent := current_traceparent()) is not None:
        headers[TRACEPARENT] = traceparent
    return headers


def _task_status(code: int, body: str) -> str:
    # the task id is issued, so the tracker answers 200: anything else is the tracker's trouble
    if code != 200:
        raise DependencyUnavailableError(f"job tracker answered {code} to a status request")
    return str(json.loads(body)["task_status"])
