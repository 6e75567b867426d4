"""Typed application keys of the todo API."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import ClientSession, web

from services.todo_api.records import TodoBook
from shared.app.app_keys import (
    aws_key,
    blobs_key,
    metrics_url_key,
    relay_key,
    settings_key,
    store_key,
)
from shared.contracts.ops_report import JobsOverview

__all__ = [
    "LocalTracker",
    "aws_key",
    "blobs_key",
    "book_key",
    "local_tracker_key",
    "metrics_url_key",
    "relay_key",
    "settings_key",
    "store_key",
    "tracker_client_key",
]

JobRoute = Callable[[web.Request], Awaitable[web.StreamResponse]]
JobsFigures = Callable[[], Awaitable[JobsOverview]]


@dataclass(frozen=True)
class LocalTracker:
    """The job tracker's status and result views, and the jobs figures of the operations page,
    in this process (the embedded mode)."""

    status: JobRoute
    result: JobRoute
    # the job history; None: forwarded to JOB_TRACKER_URL
    history: JobRoute | None = None
    # None: the operations page asks JOB_TRACKER_URL for them
    overview: JobsFigures | None = None


# the records the command handlers decide against
book_key = web.AppKey("todo_book", TodoBook)
# forwards job status and result requests to the job tracker
tracker_client_key = web.AppKey("tracker_client", ClientSession)
# when set, the job routes are answered in process instead of forwarded over HTTP
local_tracker_key = web.AppKey("local_tracker", LocalTracker)
