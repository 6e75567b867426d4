"""The subscribable calendar: the tenant's current todos as one .ics, for calendar apps that poll
it: a member's with credentials, and anyone's through the tenant's secret feed URL
(feed_url_views.py), which serves the very same feed.

Its ETag is the tenant's list version (list_version.py), which every committed change to that
list moves on and no other list or database shares, so a poll while nothing changed costs one
indexed read and answers 304 without a body; the calendar itself is streamed as it is written.
"""

from __future__ import annotations

from aiohttp import web

from services.todo_api.app_keys import store_key
from services.todo_api.list_version import list_version_of
from services.todo_api.projection import list_todos
from shared.auth.middleware import principal_key
from shared.contracts.ical import render_calendar

FEED_NAME = "taskoverflow.ics"
# a calendar app may keep the feed, but asks again (with its tag) before each use of it
CACHE_CONTROL = "no-cache"


async def calendar_feed_view(request: web.Request) -> web.StreamResponse:
    return await serve_feed(request, request[principal_key].tenant)


async def serve_feed(request: web.Request, tenant: str) -> web.StreamResponse:
    """The tenant's calendar, or 304 when `If-None-Match` names its current tag."""
    store = request.app[store_key]
    # the mark first: a list read after it is at least as new, never older than its tag
    mark = await list_version_of(store, tenant)
    etag = mark.etag
    if _matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})
    async with store.reading() as conn:
        todos = await list_todos(conn, tenant=tenant)
    response = web.StreamResponse(
        headers={
            "ETag": etag,
            "Cache-Control": CACHE_CONTROL,
            "Content-Disposition": f'inline; filename="{FEED_NAME}"',
        }
    )
    response.content_type = "text/calendar"
    response.charset = "utf-8"
    await response.prepare(request)
    # a streamed answer to HEAD would carry its body anyway: HEAD gets the headers only
    if request.method != "HEAD":
        # one tag, one body: every DTSTAMP is the time of the change the tag names
        for chunk in render_calendar(todos, mark.changed_at):
            await response.write(chunk)
    await response.write_eof()
    return response


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 13.1.2: `*`, or any listed tag equal to ours, weak or strong alike."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
