"""Fair limits per principal: writes of todos and calendar jobs, each a token bucket per tenant
and subject, kept in the service's database so that they hold across every API process
(shared/auth/rate_buckets.py). Reads are never limited.

A request of a principal this process has just refused, sent before its Retry-After, first
waits (RATE_LIMIT_REFUSAL_PAUSE_MS at most, less if a token is due sooner) and is then checked
as any other: a client that ignores Retry-After is answered about once a second per connection,
so one tenant's flood takes little of the event loop that serves every tenant. The wait costs no
CPU and no database: it is decided from this process's memory of empty buckets.

A request over its limit answers 429 JSON before its view runs, so it records nothing (no todo,
no job, no use of its Idempotency-Key), with `Retry-After` and the RateLimit headers; a request
within it carries the RateLimit headers too. The headers follow
draft-ietf-httpapi-ratelimit-headers-10 (structured fields: `RateLimit-Policy: "writes";q=..;w=..`
and `RateLimit: "writes";r=..;t=..`, written by limit_fields.py). A database that cannot be
asked answers 503 as every outage does (shared/web/http.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.todo_api.limit_fields import add_limit_fields, limit_fields, refused
from services.todo_api.routes import TODO_PATH
from shared.auth.middleware import principal_key
from shared.auth.rate_buckets import BucketKey, RateBuckets
from shared.auth.token_bucket import (
    BucketPolicy,
    Outcome,
    full_after_s,
    remaining,
    retry_after_s,
)
from shared.contracts.responses import Error
from shared.settings import RATE_LIMIT_DEFAULTS, Settings
from shared.web.http import Handler
from shared.web.openapi import Route

# which limit each limited route counts against, by method and canonical path
LIMITED_ROUTES: Mapping[tuple[str, str], str] = {
    ("POST", "/api/v1/todos"): "writes",
    ("PUT", TODO_PATH): "writes",
    ("DELETE", TODO_PATH): "writes",
    ("POST", "/api/v1/todos/ical"): "calendars",
}
Clock = Callable[[], float]
Pause = Callable[[float], Awaitable[None]]


def policies(settings: Settings) -> dict[str, BucketPolicy]:
    """The limits in force, by name: those whose rate is not 0."""
    rates = {
        "writes": (settings.rate_limit_writes_per_minute, settings.rate_limit_writes_burst),
        "calendars": (
            settings.rate_limit_calendars_per_minute,
            settings.rate_limit_calendars_burst,
        ),
    }
    in_force = {}
    for name, (per_minute, burst) in rates.items():
        if per_minute is None:
            per_minute = RATE_LIMIT_DEFAULTS[name] if settings.auth_mode == "required" else 0
        if per_minute:
            in_force[name] = BucketPolicy(name, per_minute, burst or per_minute)
    return in_force


def rate_limiting(
    limits: Mapping[str, BucketPolicy],
    buckets: Callable[[], RateBuckets],
    clock: Clock,
    *,
    pause_cap_ms: int,
    pause: Pause,
) -> Middleware:
    """The middleware, after authentication: `buckets()` is looked up per request (opened after
    the app starts); `clock` gives seconds since the epoch; `pause` waits that many seconds,
    at most `pause_cap_ms`, for a principal already refused."""

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        policy = _policy_of(request, limits)
        if policy is None:
            return await handler(request)
        principal = request[principal_key]
        key = BucketKey(principal.tenant, principal.subject, policy.name)
        empty_ms = min(buckets().empty_for_ms(key, round(clock() * 1000)), pause_cap_ms)
        if empty_ms:
            await pause(empty_ms / 1000)
        outcome = await buckets().take(key, policy, round(clock() * 1000))
        if not outcome.granted:
            return too_many(policy, outcome)
        response = await handler(request)
        if not response.prepared:
            add_limit_fields(response, limit_headers(policy, outcome))
        return response

    return limit


def too_many(policy: BucketPolicy, outcome: Outcome) -> web.Response:
    wait_s = retry_after_s(outcome, policy)
    return refused(
        f"Too many {policy.name}; try again in {wait_s} s", limit_headers(policy, outcome), wait_s
    )


def limit_headers(policy: BucketPolicy, outcome: Outcome) -> dict[str, str]:
    """The quota (the burst, refilled over `window_s`) and what is left of it: the remaining
    requests and the seconds until the bucket is full again."""
    return limit_fields(
        policy.name,
        f"q={policy.burst};w={policy.window_s}",
        f"r={remaining(outcome)};t={full_after_s(outcome, policy)}",
    )


def documented_limits(routes: Sequence[Route], limits: Mapping[str, BucketPolicy]) -> list[Route]:
    """The routes with 429 on those a limit in force counts."""
    return [
        dataclasses.replace(route, responses={**route.responses, 429: Error})
        if LIMITED_ROUTES.get((route.method, route.path)) in limits
        else route
        for route in routes
    ]


def _policy_of(request: web.Request, limits: Mapping[str, BucketPolicy]) -> BucketPolicy | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    name = LIMITED_ROUTES.get((request.method, resource.canonical))
    return None if name is None else limits.get(name)
