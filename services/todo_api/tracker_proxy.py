"""The Tracker port (tracker.py) over HTTP: the job routes forwarded to JOB_TRACKER_URL, a
cancel's question of the job's state, the cap's question of the jobs in flight and the operations
page's jobs figures asked there. The
client's own credentials go along, so the tracker answers as that principal.

The tracker may be silent for JOB_TRACKER_READ_TIMEOUT_MS at most; a transfer as a whole has no
limit, so a slow client still gets a large file. A tracker that fails or goes silent once the
answer has begun cuts the client's download short (shared/web/http.py::json_errors).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.hdrs import AUTHORIZATION
from pydantic import ValidationError

from services.todo_api.ops_probes import reason
from services.todo_api.tracker import JobsUnavailableError, in_flight_in, task_status_in
from shared.aws.blobs import CHUNK_BYTES
from shared.contracts.ops_report import JOBS_OVERVIEW_PATH, JobsOverview
from shared.contracts.responses import IN_FLIGHT_PATH
from shared.contracts.trace_context import TRACEPARENT, current_traceparent
from shared.observability import log_context
from shared.observability.tracing import REQUEST_ID
from shared.outages import DependencyUnavailableError
from shared.settings import Settings
from shared.web.http import json_error
from shared.web.sse import LAST_EVENT_ID

logger = logging.getLogger(__name__)

# what the client needs of the tracker's headers: the body's type and name, and that an event
# stream is neither cached nor held back by a proxy in front of todo_api
PASSED_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control", "X-Accel-Buffering")
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


def events_timeout(settings: Settings) -> aiohttp.ClientTimeout:
    """An event stream is silent up to a keep-alive interval by design: the tracker's silence
    is bounded by that and the usual bound together."""
    silence_ms = settings.job_tracker_read_timeout_ms + settings.job_events_keepalive_ms
    return aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S, sock_read=silence_ms / 1000)


@dataclass(frozen=True)
class HttpTracker:
    """The Tracker port over HTTP: each question goes to the tracker at `url` (JOB_TRACKER_URL;
    None: not set, which every answer says) with the public host and scheme."""

    client: aiohttp.ClientSession
    url: str | None
    # how long an event stream may be silent (None: as long as any other answer)
    events_timeout: aiohttp.ClientTimeout | None = None

    async def status(self, request: web.Request) -> web.StreamResponse:
        return await self._forward(request)

    async def result(self, request: web.Request) -> web.StreamResponse:
        return await self._forward(request)

    async def events(self, request: web.Request) -> web.StreamResponse:
        # the client's Last-Event-ID goes along: the tracker resumes from it
        resume = request.headers.get(LAST_EVENT_ID)
        extra = {} if resume is None else {LAST_EVENT_ID: resume}
        return await self._forward(request, extra, self.events_timeout)

    async def history(self, request: web.Request) -> web.StreamResponse:
        return await self._forward(request)

    async def task_status(self, request: web.Request, task_id: UUID) -> str:
        url = f"{self._base_url()}/api/v1/todos/ical/{task_id}/status"
        return task_status_in(*await self._ask(request, url))

    async def in_flight(self, request: web.Request) -> int:
        return in_flight_in(*await self._ask(request, self._base_url() + IN_FLIGHT_PATH))

    async def overview(self, request: web.Request, timeout_s: float) -> JobsOverview:
        if not self.url:
            raise JobsUnavailableError("JOB_TRACKER_URL is not set")
        url = self.url.rstrip("/") + JOBS_OVERVIEW_PATH
        try:
            async with self.client.get(
                url, headers=_forwarded(request), timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as answer:
                body = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("operations page: %s did not answer: %r", url, exc)
            raise JobsUnavailableError(
                f"job tracker unreachable: {reason(exc, timeout_s)}"
            ) from exc
        if status != 200:
            raise JobsUnavailableError(f"job tracker answered {status}")
        try:
            return JobsOverview.model_validate_json(body)
        except ValidationError as exc:
            raise JobsUnavailableError(
                "job tracker answered something else than its figures"
            ) from exc

    def _base_url(self) -> str:
        if not self.url:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"error": NO_TRACKER}), content_type="application/json"
            )
        return self.url.rstrip("/")

    async def _ask(self, request: web.Request, url: str) -> tuple[int, str]:
        """The tracker's status code and body for `url`, asked as the request's principal."""
        try:
            async with self.client.get(url, headers=_forwarded(request)) as upstream:
                return upstream.status, await upstream.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DependencyUnavailableError(f"job tracker: {exc!r}") from exc

    async def _forward(
        self,
        request: web.Request,
        extra_headers: dict[str, str] | None = None,
        read_bounds: aiohttp.ClientTimeout | None = None,
    ) -> web.StreamResponse:
        if not self.url:
            return json_error(NO_TRACKER, 503)
        url = self.url.rstrip("/") + request.rel_url.raw_path_qs
        headers = {**_forwarded(request), **(extra_headers or {})}
        try:
            upstream = await self.client.get(
                url, headers=headers, timeout=read_bounds or self.client.timeout
            )
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


def _forwarded(request: web.Request) -> dict[str, str]:
    """The public host and scheme (the tracker builds absolute URLs from them), the client's
    credentials (the tracker authenticates them again and answers the principal's tenant's jobs
    only), and the request's id and trace context, so the tracker's lines and spans join the
    request's."""
    headers = {"Host": request.host, "X-Forwarded-Proto": request.scheme}
    if (credentials := request.headers.get(AUTHORIZATION)) is not None:
        headers[AUTHORIZATION] = credentials
    request_id = log_context.bound().get("request_id")
    if request_id is not None:
        headers[REQUEST_ID] = str(request_id)
    if (traceparent := current_traceparent()) is not None:
        headers[TRACEPARENT] = traceparent
    return headers
