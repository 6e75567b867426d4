"""The RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-10, one
list member per limit (`"writes";q=..;w=..`), and the 429 that carries them: the rate limits'
buckets (rate_limits.py) and the cap on calendar jobs in flight (jobs_cap.py) answer alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from shared.web.http import json_error


def limit_fields(name: str, policy: str, state: str) -> dict[str, str]:
    """The RateLimit-Policy and RateLimit members of the limit `name`: its policy's parameters
    and where the principal stands."""
    return {"RateLimit-Policy": f'"{name}";{policy}', "RateLimit": f'"{name}";{state}'}


def add_limit_fields(response: web.StreamResponse, fields: Mapping[str, str]) -> None:
    """Put a limit's members on `response`, after those of any other limit already there (each
    field is a list, one member per limit)."""
    for field, member in fields.items():
        earlier = response.headers.get(field)
        response.headers[field] = member if earlier is None else f"{earlier}, {member}"


def refused(message: str, fields: Mapping[str, str], wait_s: int) -> web.Response:
    """429 JSON with a limit's RateLimit fields and `Retry-After: wait_s`."""
    response = json_error(message, 429)
    add_limit_fields(response, fields)
    response.headers["Retry-After"] = str(wait_s)
    return response
