"""Cross-origin calls (CORS) from the pages on CORS_ALLOWED_ORIGINS, and from no other.

A browser asks before a script on another origin sends a change or a token (the preflight: an
OPTIONS with Access-Control-Request-Method); it carries no credentials, so it is answered here,
before authentication. The answer to the call itself names the origin again, or the browser
keeps it from the script. An origin not on the list gets no CORS header at all, which is how a
browser is told no: the request is otherwise answered as ever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from shared.web.http import Handler

PREFLIGHT_METHOD = "Access-Control-Request-Method"
# what the web page's script sends: its token, JSON bodies, retry keys and conditional reads
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-None-Match"
# what a script may read of an answer beyond the CORS-safelisted headers
EXPOSED_HEADERS = "ETag, Retry-After, RateLimit, RateLimit-Policy"
# how long a browser may reuse a preflight's answer (browsers cap it at 2 hours or less)
PREFLIGHT_MAX_AGE_S = 7200
ResponseSignal = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def allow_cross_origin(app: web.Application, origins: Collection[str]) -> None:
    """Answer preflights from `origins` and name them on their answers; none: nothing changes.
    Add it before authentication, so a preflight is answered without credentials."""
    if not origins:
        return
    allowed = frozenset(origins)
    app.middlewares.append(_answer_preflight(allowed))
    app.on_response_prepare.append(_name_origin(allowed))


def _answer_preflight(allowed: frozenset[str]) -> Middleware:
    @web.middleware
    async def answer_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        methods = _route_methods(request) if _is_preflight_from(allowed, request) else []
        if not methods:
            return await handler(request)
        return web.Response(
            status=204,
            headers={
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: ", ".join(methods),
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                hdrs.ACCESS_CONTROL_MAX_AGE: str(PREFLIGHT_MAX_AGE_S),
            },
        )

    return answer_preflight


def _is_preflight_from(allowed: frozenset[str], request: web.Request) -> bool:
    asks = request.method == "OPTIONS" and PREFLIGHT_METHOD in request.headers
    return asks and request.headers.get(hdrs.ORIGIN) in allowed


def _route_methods(request: web.Request) -> list[str]:
    """The methods the requested path answers (none for a path that is not there)."""
    match = request.match_info
    if isinstance(match.http_exception, web.HTTPMethodNotAllowed):
        methods = set(match.http_exception.allowed_methods)
    elif match.http_exception is None and match.route.resource is not None:
        methods = {route.method for route in match.route.resource}
    else:
        methods = set()
    return sorted(methods - {"OPTIONS", hdrs.METH_ANY})


def _name_origin(allowed: frozenset[str]) -> ResponseSignal:
    async def name_origin(request: web.Request, response: web.StreamResponse) -> None:
        """on_response_prepare: every answer to an allowed origin, errors included, names it."""
        origin = request.headers.get(hdrs.ORIGIN)
        if origin not in allowed:
            return
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS
        _vary_by_origin(response)

    return name_origin


def _vary_by_origin(response: web.StreamResponse) -> None:
    """Add Origin to Vary, so a cache never hands one origin's answer to another."""
    varies = [name.strip() for name in response.headers.get(hdrs.VARY, "").split(",")]
    if "origin" not in {name.lower() for name in varies}:
        response.headers[hdrs.VARY] = ", ".join([*filter(None, varies), "Origin"])
