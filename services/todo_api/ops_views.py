"""The operations page and its JSON: the jobs figures of the job tracker, the depth of every queue
and DLQ, and each service's readiness and outbox backlog, asked for at once, each with a short
timeout. A part that cannot be had is reported in the JSON; the answer itself is always 200.
One computation answers every viewer for REPORT_FRESH_S, and viewers that ask while it runs
wait for it rather than start their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.todo_api.app_keys import (
    aws_key,
    metrics_url_key,
    settings_key,
    tracker_client_key,
    tracker_key,
)
from services.todo_api.ops_probes import probe_service, queue_depths
from services.todo_api.shared_result import SharedResult
from services.todo_api.sign_in import page_response
from services.todo_api.tracker import JobsUnavailableError
from shared.clock import utcnow
from shared.contracts.ops_report import JobsOverview, OpsReport
from shared.contracts.topology import Names
from shared.web.http import json_response

OPS_PAGE = Path(__file__).parent / "static" / "ops.html"
# how long one computation of the report answers every viewer: the page refreshes every 5 s, so
# any number of open pages cost one round of probes per refresh at most
REPORT_FRESH_S = 2.0
ops_report_key = web.AppKey("ops_report", SharedResult[OpsReport])


async def ops_page(request: web.Request) -> web.FileResponse:
    return await page_response(request, OPS_PAGE)


async def ops_report_view(request: web.Request) -> web.Response:
    report = await request.app[ops_report_key].get(lambda: ops_report(request))
    return json_response(report)


async def ops_report_ctx(app: web.Application) -> AsyncIterator[None]:
    """The report shared by every viewer; a computation still running at shutdown is stopped."""
    shared: SharedResult[OpsReport] = SharedResult(REPORT_FRESH_S)
    app[ops_report_key] = shared
    yield
    await shared.close()


async def ops_report(request: web.Request) -> OpsReport:
    app = request.app
    settings, client = app[settings_key], app[tracker_client_key]
    timeout_s = settings.ops_probe_timeout_ms / 1000
    (jobs, jobs_error), queues, *services = await asyncio.gather(
        _jobs(request, timeout_s),
        queue_depths(app[aws_key].sqs, Names(settings.resource_prefix), timeout_s),
        probe_service(client, "todo_api", own_url(request), timeout_s, app.get(metrics_url_key)),
        probe_service(
            client,
            "job_tracker",
            settings.job_tracker_url,
            timeout_s,
            settings.job_tracker_metrics_url,
        ),
        probe_service(
            client,
            "calendar_worker",
            settings.calendar_worker_url,
            timeout_s,
            settings.calendar_worker_metrics_url,
        ),
    )
    return OpsReport(
        generated_at=utcnow(),
        services=services,
        queues=queues,
        jobs=jobs,
        jobs_error=jobs_error,
    )


def own_url(request: web.Request) -> str:
    """This service as it listens (the connection's own address), so it is asked like the others."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return f"http://127.0.0.1:{request.app[settings_key].http_port}"
    host, port = sockname[0], sockname[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _jobs(request: web.Request, timeout_s: float) -> tuple[JobsOverview | None, str | None]:
    try:
        return await request.app[tracker_key].overview(request, timeout_s), None
    except JobsUnavailableError as exc:
        return None, str(exc)
