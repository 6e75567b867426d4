"""What a route is asked with: its path parameters filled by name, with tenant A's ids or ids
never used, and the body its writes take. A parameter or a body the tables below lack fails
the test that needs it, so a new route cannot pass without its values being chosen."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from uuid import uuid4

import pytest
from yarl import URL

from tests.support.access_table.catalogue import RouteCase
from tests.support.tenant_stack import A_MARK, Tenants

# todo ids count up from 1: no test gets near this one
NEVER_USED_TODO_ID = 2**62
Ids = Literal["of_a", "never_used"]


@dataclass(frozen=True)
class World:
    """The running services by name, and the tenants on them."""

    urls: Mapping[str, str]
    tenants: Tenants
    # whether the job tracker took every tenant's key (it learns them from todo_api's events);
    # before it does, its answers to a tenant say nothing of tenancy
    tracker_knows_keys: bool


@dataclass(frozen=True)
class PathValue:
    of_a: Callable[[Tenants], Awaitable[str]]
    never_used: Callable[[], str]


async def new_todo_of_a(tenants: Tenants) -> str:
    # a fresh one each time: where tenancy is missing, a PUT or DELETE changes what it is given
    todo = await tenants.client("a").create_todo(title=f"{A_MARK}: one more")
    return str(todo["id"])


async def job_of_a(tenants: Tenants) -> str:
    return str(tenants.a_task_id)


async def feed_secret_of_a(tenants: Tenants) -> str:
    feed_url = await tenants.client("a").issue_feed_url()
    return URL(feed_url).parts[-2]


PATH_VALUES: Mapping[str, PathValue] = {
    "id": PathValue(new_todo_of_a, lambda: str(NEVER_USED_TODO_ID)),
    # a task id todo_api never issued
    "task_id": PathValue(job_of_a, lambda: str(uuid4())),
    # a feed secret of the form todo_api issues, made up
    "secret": PathValue(feed_secret_of_a, lambda: secrets.token_urlsafe(32)),
}
BODIES: Mapping[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/todos"): {"title": "written by the access table"},
    ("PUT", "/api/v1/todos/{id}"): {"title": "changed by the access table"},
    # operators' routes: refused before the body is read, which is a valid one all the same
    ("POST", "/api/v1/ops/dead-letters/redrives"): {
        "queue": "job-tracker-dlq",
        "group_id": "000000000000",
        "rate": 5,
    },
    ("POST", "/api/v1/ops/dead-letters/discards"): {
        "queue": "job-tracker-dlq",
        "group_id": "000000000000",
        "reason": "written by the access table",
    },
}


async def url_of(case: RouteCase, world: World, ids: Ids = "of_a") -> str:
    values = {}
    for name in case.parameters:
        if name not in PATH_VALUES:
            pytest.fail(f"{case}: no value for the path parameter {{{name}}} in PATH_VALUES")
        value = PATH_VALUES[name]
        values[name] = await value.of_a(world.tenants) if ids == "of_a" else value.never_used()
    return world.urls[case.service] + case.path.format(**values)


def body_of(case: RouteCase) -> dict[str, Any] | None:
    if not case.needs_body:
        return None
    if case.key not in BODIES:
        pytest.fail(f"{case} takes a body and BODIES has none for it")
    return BODIES[case.key]


def require_keys_known(case: RouteCase, world: World) -> None:
    """Fail a tracker case with credentials at once if the tracker never took the keys."""
    if case.service == "job_tracker" and not world.tracker_knows_keys:
        pytest.fail("the job tracker never took the keys todo_api issued: it refuses them all")
