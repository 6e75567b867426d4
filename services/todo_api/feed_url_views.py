"""The calendar feed URL: a member issues (and so rotates), reads and revokes its tenant's; the
URL's secret stands for the credentials a calendar app cannot send, and any secret that is not a
tenant's current one answers 404, as a page that is not there."""

from __future__ import annotations

from aiohttp import web

from services.todo_api.app_keys import feed_secrets_key
from services.todo_api.feed_views import serve_feed
from services.todo_api.schemas import FeedUrlIssued, FeedUrlState
from shared.auth.middleware import principal_key
from shared.web.http import json_response, not_found, public_url

FEED_URL_PATH = "/api/v1/todos/calendar-feed"
SECRET_FEED_PATH = "/api/v1/feeds/{secret}/calendar.ics"


async def issue_feed_url_view(request: web.Request) -> web.Response:
    issued = await request.app[feed_secrets_key].issue(request[principal_key].origin)
    feed_url = public_url(request, SECRET_FEED_PATH.format(secret=issued.secret))
    response = json_response(FeedUrlIssued(feed_url=feed_url, issued_at=issued.issued_at), 201)
    # the secret is shown this once: no cache along the way keeps it
    response.headers["Cache-Control"] = "no-store"
    return response


async def feed_url_state_view(request: web.Request) -> web.Response:
    issued_at = await request.app[feed_secrets_key].issued_at(request[principal_key].tenant)
    return json_response(FeedUrlState(issued=issued_at is not None, issued_at=issued_at))


async def revoke_feed_url_view(request: web.Request) -> web.Response:
    await request.app[feed_secrets_key].revoke(request[principal_key].origin)
    return json_response(FeedUrlState(issued=False, issued_at=None))


async def secret_feed_view(request: web.Request) -> web.StreamResponse:
    tenant = await request.app[feed_secrets_key].tenant_of(request.match_info["secret"])
    if tenant is None:
        raise not_found("Feed not found")
    return await serve_feed(request, tenant)
