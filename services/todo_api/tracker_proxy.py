"""The job routes on the public base URL: forwarded to the job tracker, or in process.

Services started on their own forward over HTTP to JOB_TRACKER_URL; the embedded mode hands
todo_api the tracker's views, which saves a request per status poll.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from services.todo_api.keys import local_tracker_key, settings_key, tracker_client_key
from shared.blobs import CHUNK_BYTES
from shared.http import json_error
from shared.outages import DependencyUnavailableError

PASSED_HEADERS = ("Content-Type", "Content-Disposition")


async def job_status_route(request: web.Request) -> web.StreamResponse:
    if local := request.app.get(local_tracker_key):
        return await local.status(request)
    return await forward_to_tracker(request)


async def job_result_route(request: web.Request) -> web.StreamResponse:
    if local := request.app.get(local_tracker_key):
        return await local.result(request)
    return await forward_to_tracker(request)


async def forward_to_tracker(request: web.Request) -> web.StreamResponse:
    tracker_url = request.app[settings_key].job_tracker_url
    if not tracker_url:
        return json_error("Calendar jobs are not available: JOB_TRACKER_URL is not set", 503)
    # the tracker builds absolute URLs from the public host and scheme
    headers = {"Host": request.host, "X-Forwarded-Proto": request.scheme}
    url = tracker_url.rstrip("/") + request.rel_url.raw_path
    try:
        async with request.app[tracker_client_key].get(url, headers=headers) as upstream:
            return await _relay(request, upstream)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DependencyUnavailableError(f"job tracker: {exc!r}") from exc


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status)
    for name in PASSED_HEADERS:
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name]
    await response.prepare(request)
    async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
        await response.write(chunk)
    await response.write_eof()
    return response
