"""The principal's tenant's jobs not yet finished (PENDING, STARTED or RETRY), counted for
todo_api's cap on calendar jobs in flight.

The count reads the (tenant, status, ...) history index (tables.py): one range per open state,
so it costs what the tenant's open jobs cost, never a pass over the table. It knows the jobs whose
CalendarRequested has arrived; todo_api's module that asks it (services/todo_api/jobs_cap.py)
says what that lag means for the cap.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import bindparam, func, select

from services.job_tracker.app_keys import store_key
from services.job_tracker.jobs import TERMINAL, Status
from services.job_tracker.tables import jobs
from shared.auth.middleware import principal_key
from shared.contracts.responses import JobsInFlight
from shared.eventstore.store import EventStore
from shared.web.http import json_response

OPEN_STATES = sorted(set(Status) - TERMINAL)


async def in_flight_view(request: web.Request) -> web.Response:
    return await jobs_in_flight(request.app, request)


async def jobs_in_flight(app: web.Application, request: web.Request) -> web.Response:
    """The count for the request's principal's tenant, from `app`'s tables (any app's request
    will do: the embedded mode asks with todo_api's)."""
    tenant = request[principal_key].tenant
    return json_response(JobsInFlight(in_flight=await count_in_flight(app[store_key], tenant)))


# built once, given the tenant at execution: compiled once and cached
COUNT_IN_FLIGHT = (
    select(func.count())
    .select_from(jobs)
    .where(jobs.c.tenant == bindparam("tenant"), jobs.c.status.in_(OPEN_STATES))
)


async def count_in_flight(store: EventStore, tenant: str) -> int:
    async with store.reading() as conn:
        return int((await conn.execute(COUNT_IN_FLIGHT, {"tenant": tenant})).scalar_one())
