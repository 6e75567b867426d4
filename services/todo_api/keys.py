"""Typed application keys of the todo API."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import ClientSession, web

from services.todo_api.records import TodoBook
from shared.keys import blobs_key, relay_key, settings_key, store_key

__all__ = [
    "LocalTracker",
    "blobs_key",
    "book_key",
    "local_tracker_key",
    "relay_key",
    "settings_key",
    "store_key",
    "tracker_client_key",
]

JobRoute = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class LocalTracker:
    """The job tracker's status and result views in this process (the embedded mode)."""

    status: JobRoute
    result: JobRoute


# the records the command handlers decide against
book_key = web.AppKey("todo_book", TodoBook)
# forwards job status and result requests to the job tracker
tracker_client_key = web.AppKey("tracker_client", ClientSession)
# when set, the job routes are answered in process instead of forwarded over HTTP
local_tracker_key = web.AppKey("local_tracker", LocalTracker)
