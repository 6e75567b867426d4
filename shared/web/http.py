"""HTTP plumbing every service shares: JSON errors, body parsing, the health route."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from shared.outages import is_outage

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

_REASONS = {
    404: "Not found",
    405: "Method not allowed",
    413: f"Request body too large (limit {MAX_BODY_BYTES} bytes)",
    415: "Content-Type must be application/json",
}


def json_response(
    payload: BaseModel | Sequence[BaseModel] | Any,
    status: int = 200,
    *,
    exclude: set[str] | None = None,
) -> web.Response:
    """The one way a JSON body is written: a model (less `exclude`), a list of models, or plain
    JSON values. Models are encoded by pydantic, the way their OpenAPI schema describes them."""
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json(exclude=exclude)
    elif isinstance(payload, list | tuple) and all(isinstance(item, BaseModel) for item in payload):
        text = "[" + ",".join(item.model_dump_json(exclude=exclude) for item in payload) + "]"
    else:
        text = json.dumps(payload, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json")


def json_error(message: str, status: int) -> web.Response:
    return json_response({"error": message}, status)


# the response a request began to answer with (on_response_prepare): from then on its status
# line may be on the wire, and an error can only cut the connection, never answer again
_STARTED: web.RequestKey[web.StreamResponse] = web.RequestKey("started_response")
Cut = Literal["client", "server"]
_CUT_OFF: web.RequestKey[Cut] = web.RequestKey("cut_off_by")
# the status of a request whose client went away before its answer was complete (nginx's "client
# closed request"): never sent, but what the access log and the metrics count it as
CLIENT_CLOSED = 499


async def note_response_started(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: `response` is how `request` is being answered."""
    request[_STARTED] = response


def cut_off_by(request: web.Request) -> Cut | None:
    """Who ended the request's answer early: its client, by going away, or the server, failing
    after the response had begun; None when it was answered in full (or as an error)."""
    return request.get(_CUT_OFF)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as JSON {"error": ...}; outages as 503, never a traceback page.

    Once a response has begun (note_response_started), an error cuts the connection instead: a
    second answer would land inside the first one's body. A client that went away is no error.
    """
    try:
        return await handler(request)
    except Exception as exc:
        if _client_gone(request, exc):
            logger.info(
                "%s %s: the client went away before the answer was complete",
                request.method,
                request.path,
            )
            return _cut(request, "client")
        if request.get(_STARTED) is not None:
            _log_failure(request, exc, mid_answer=True)
            return _cut(request, "server")
        if isinstance(exc, web.HTTPException):
            if exc.status < 400 or exc.content_type == "application/json":
                raise
            return _as_json(exc)
        # the same rule the consumers use (shared/outages.py): a dependency away is a 503
        if _log_failure(request, exc, mid_answer=False):
            return json_error("Service temporarily unavailable, try again shortly", 503)
        return json_error("Internal server error", 500)


def _client_gone(request: web.Request, exc: BaseException) -> bool:
    """The request's own connection is closed, and that is what failed the handler."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        return False
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ConnectionError):
            return True
        current = current.__cause__
    return False


def _log_failure(request: web.Request, exc: Exception, *, mid_answer: bool) -> bool:
    """Log `exc`: a warning for an outage (True), the traceback for anything else (False)."""
    where = f"{request.method} {request.path}"
    cut = " mid-answer, connection closed" if mid_answer else ""
    if is_outage(exc):
        logger.warning("%s: dependency unavailable%s: %r", where, cut, exc)
        return True
    logger.exception("%s failed%s", where, cut)
    return False


def _cut(request: web.Request, by: Cut) -> web.StreamResponse:
    """Close the request's connection and hand aiohttp a response it cannot send: the client
    sees a transfer that ends early (no chunked body's last chunk, or too few bytes)."""
    request[_CUT_OFF] = by
    if request.transport is not None:
        request.transport.close()
    started: web.StreamResponse | None = request.get(_STARTED)
    if started is None:
        return web.Response(status=CLIENT_CLOSED)
    # never kept alive for another request; its end (write_eof) fails on the closed connection
    started.force_close()
    return started


def _as_json(exc: web.HTTPException) -> web.Response:
    response = json_error(_REASONS.get(exc.status, exc.reason), exc.status)
    # a 405 must still say which methods the resource allows (RFC 9110)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate a JSON object body against `model`, or raise a JSON 4xx."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": _REASONS[415]}), content_type="application/json"
        )
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise bad_request(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One readable line from pydantic's first error."""
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return "Request body is not valid JSON"
    if first["type"] == "model_type" or not first["loc"]:
        return "Request body must be a JSON object"
    field = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"Unknown or read-only field: {field}"
    return f"{field}: {first['msg']}"


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def not_found(message: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": message}), content_type="application/json")


def public_url(request: web.Request, path: str) -> str:
    """An absolute URL as the client sees it, also behind a forwarder or load balancer."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
    return f"{scheme}://{request.host}{path}"


async def health(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})
