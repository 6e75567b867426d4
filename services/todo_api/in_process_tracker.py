"""The Tracker port answered by the job tracker's own views in this process (`make run`, and
`python -m services.edge`).

The views come from whoever wires the process (services/edge/app.py): todo_api imports nothing of
the job tracker, it only calls what it is handed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from aiohttp import web

from services.todo_api.ops_probes import reason
from services.todo_api.tracker import JobsUnavailableError, in_flight_in, task_status_in
from shared.contracts.ops_report import JobsOverview

logger = logging.getLogger(__name__)

JobView = Callable[[web.Request], Awaitable[web.StreamResponse]]
JobsFigures = Callable[[], Awaitable[JobsOverview]]


@dataclass(frozen=True)
class InProcessTracker:
    """The tracker's status, result, events, history and in-flight views and its jobs figures, each
    bound to the tracker's app; todo_api's request is answered by them as the tracker answers
    its own, with the principal todo_api's authentication put on it (`request[principal_key]`)."""

    status_view: JobView
    result_view: JobView
    events_view: JobView
    history_view: JobView
    in_flight_view: JobView
    overview_of: JobsFigures

    async def status(self, request: web.Request) -> web.StreamResponse:
        return await self.status_view(request)

    async def result(self, request: web.Request) -> web.StreamResponse:
        return await self.result_view(request)

    async def events(self, request: web.Request) -> web.StreamResponse:
        return await self.events_view(request)

    async def history(self, request: web.Request) -> web.StreamResponse:
        return await self.history_view(request)

    async def task_status(self, request: web.Request, task_id: UUID) -> str:
        # the request's path names the job: the status view reads it from there
        answer = await self.status_view(request)
        assert isinstance(answer, web.Response), "the tracker's status view answers in full"
        return task_status_in(answer.status, answer.text or "")

    async def in_flight(self, request: web.Request) -> int:
        # the tracker's tables unreachable: an outage, which answers 503 (shared/web/http.py)
        answer = await self.in_flight_view(request)
        assert isinstance(answer, web.Response), "the tracker's in-flight view answers in full"
        return in_flight_in(answer.status, answer.text or "")

    async def overview(self, request: web.Request, timeout_s: float) -> JobsOverview:
        # todo_api's middleware let only an operator reach the page that asks
        try:
            async with asyncio.timeout(timeout_s):
                return await self.overview_of()
        # the tracker's tables in this process: whatever keeps them from answering
        except Exception as exc:
            logger.warning("operations page: jobs overview failed: %r", exc)
            raise JobsUnavailableError(f"database: {reason(exc, timeout_s)}") from exc
