"""Refuse a change asked by another site: a form or script on a page elsewhere that makes the
visitor's browser POST, PUT or DELETE here.

`POST /api/v1/todos/ical` takes no body, so a plain HTML form on any site could start calendar
jobs on a `make run` on the visitor's machine; the todo routes take only `application/json`,
which no form can send, but the same rule guards them too. A browser says where a request comes
from (`Sec-Fetch-Site`, and `Origin` on every POST); curl and other non-browser clients send
neither and pass, as the practical's session does. A page on an origin of CORS_ALLOWED_ORIGINS
(shared/web/cors.py) is trusted as this one is: its changes pass.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Middleware
from yarl import URL

from shared.web.http import Handler, json_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE_REFUSED = "Cross-site requests may not change anything here"


def refuse_cross_site(allowed_origins: Collection[str] = ()) -> Middleware:
    """403 for a change whose browser says it comes from another site or origin, unless that
    origin is one of `allowed_origins`."""
    allowed = frozenset(allowed_origins)

    @web.middleware
    async def refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
        unsafe = request.method not in SAFE_METHODS
        if unsafe and request.headers.get("Origin") not in allowed and is_cross_site(request):
            return json_error(CROSS_SITE_REFUSED, 403)
        return await handler(request)

    return refuse


def is_cross_site(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    return origin is not None and not _same_host(origin, request.host)


def _same_host(origin: str, host: str) -> bool:
    """Does `origin` name this host and port? The scheme is left aside: behind a load balancer
    that ends TLS the browser's https is this service's http. `null` (a sandboxed or local
    page) names no host."""
    try:
        sender = URL(origin)
        if not sender.absolute or sender.host is None:
            return False
        # the Host header read with the origin's scheme, so both omit the same default port
        receiver = URL.build(scheme=sender.scheme, authority=host)
    except ValueError:
        return False
    return (sender.host.lower(), sender.port) == ((receiver.host or "").lower(), receiver.port)
