"""What todo_api asks of the job tracker (a port): the answers of the job routes on the public
base URL, a job's state for a cancel, the tenant's jobs in flight for the cap on them, and the
jobs figures of the operations page.

Two adapters answer it: `tracker_proxy.HttpTracker` asks JOB_TRACKER_URL (todo_api started on
its own), `in_process_tracker.InProcessTracker` calls the tracker's own views in this process
(`make run`, and `python -m services.edge` on the tracker's PostgreSQL schema: a request per
status poll saved). todo_api imports nothing of the tracker: services/edge/app.py hands it the
tracker's views. Both adapters are held to the same
answers by one contract test.

The tracker answers as the request's principal, its tenant's jobs only: HttpTracker forwards the
client's Authorization header, which the tracker authenticates again; InProcessTracker hands the
tracker's views todo_api's request itself, authenticated already (`request[principal_key]`).
"""

from __future__ import annotations

import json
from typing import Protocol
from uuid import UUID

from aiohttp import web
from pydantic import ValidationError

from shared.contracts.ops_report import JobsOverview
from shared.contracts.responses import JobsInFlight
from shared.outages import DependencyUnavailableError


class JobsUnavailableError(Exception):
    """The jobs figures could not be had; the message says why in a few public words."""


class Tracker(Protocol):
    async def status(self, request: web.Request) -> web.StreamResponse:
        """The tracker's answer to the status route the request's path names."""
        ...

    async def result(self, request: web.Request) -> web.StreamResponse:
        """The tracker's answer to the result route: the calendar file, streamed."""
        ...

    async def events(self, request: web.Request) -> web.StreamResponse:
        """The tracker's answer to the events route: Server-Sent Events, each passed on as it
        comes, until the tracker ends the stream."""
        ...

    async def history(self, request: web.Request) -> web.StreamResponse:
        """The tracker's answer to the job history route, with the request's query."""
        ...

    async def task_status(self, request: web.Request, task_id: UUID) -> str:
        """The job's task_status (`request`: one whose path names the job; its public host,
        scheme and trace go along); DependencyUnavailableError when the tracker cannot tell."""
        ...

    async def in_flight(self, request: web.Request) -> int:
        """How many of the request's principal's tenant's jobs are not yet finished, as far as
        the tracker knows; DependencyUnavailableError when it cannot tell."""
        ...

    async def overview(self, request: web.Request, timeout_s: float) -> JobsOverview:
        """The jobs figures within `timeout_s`, asked as `request`'s principal (an operator);
        JobsUnavailableError says why not."""
        ...


def task_status_in(code: int, body: str) -> str:
    """The task_status of the tracker's answer to a status route."""
    # the task id is issued, so the tracker answers 200: anything else is the tracker's trouble
    if code != 200:
        raise DependencyUnavailableError(f"job tracker answered {code} to a status request")
    return str(json.loads(body)["task_status"])


def in_flight_in(code: int, body: str) -> int:
    """The count in the tracker's answer to the in-flight route."""
    # the principal was let in by todo_api: anything but the count is the tracker's trouble (a
    # key todo_api issued moments ago may not have reached the tracker yet: it answers 401)
    if code != 200:
        raise DependencyUnavailableError(f"job tracker answered {code} to an in-flight request")
    try:
        return JobsInFlight.model_validate_json(body).in_flight
    except ValidationError as exc:
        raise DependencyUnavailableError(
            "job tracker answered something else than a count"
        ) from exc
