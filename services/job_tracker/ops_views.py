"""The jobs part of the operations page, which todo_api asks for and assembles with the rest."""

from __future__ import annotations

from aiohttp import web

from services.job_tracker.app_keys import store_key
from services.job_tracker.overview import jobs_overview
from shared.contracts.ops_report import JobsOverview
from shared.web.http import json_response


async def jobs_overview_view(request: web.Request) -> web.Response:
    return json_response(await overview_of(request.app))


async def overview_of(app: web.Application) -> JobsOverview:
    """The jobs overview from `app`'s tables (the embedded mode calls it in process)."""
    return await jobs_overview(app[store_key])
