"""The access table misses no route: what each service's app serves is what the catalogue reads
from its document (plus what it names beside it), and the tables of path values and bodies
name exactly the parameters and the bodies the routes have."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from uuid import uuid4

import pytest
from aiohttp import web

import services
from services.calendar_worker.app import create_app as calendar_worker_app
from services.job_tracker.app import create_app as job_tracker_app
from services.todo_api.app import create_app as todo_api_app
from shared.settings import Settings
from tests.support.access_table.catalogue import DOCUMENTED, ROUTES, RouteCase
from tests.support.access_table.filling import BODIES, PATH_VALUES, World, body_of, url_of
from tests.support.tenant_stack import Tenants

APPS: Mapping[str, Callable[[Settings], web.Application]] = {
    "todo_api": todo_api_app,
    "job_tracker": job_tracker_app,
    "calendar_worker": calendar_worker_app,
}


def served(app: web.Application) -> set[tuple[str, str]]:
    """Method and route path of every route; HEAD goes with its GET."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def test_the_catalogue_reads_every_service() -> None:
    folders = Path(services.__file__).parent.iterdir()
    found = {folder.name for folder in folders if (folder / "routes.py").is_file()}

    assert set(DOCUMENTED) == set(APPS) == found


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_route_a_service_serves_is_in_the_catalogue(service: str) -> None:
    app = APPS[service](Settings(auth_mode="required"))

    catalogued = {(case.method, case.canonical) for case in ROUTES if case.service == service}
    assert served(app) == catalogued


def test_the_path_values_are_the_parameters_of_the_routes() -> None:
    assert set(PATH_VALUES) == {name for case in ROUTES for name in case.parameters}


def test_the_bodies_are_those_of_the_routes_that_take_one() -> None:
    assert set(BODIES) == {case.key for case in ROUTES if case.needs_body}


async def test_a_route_with_a_parameter_the_table_lacks_fails_its_cases() -> None:
    case = RouteCase("todo_api", "GET", "/api/v1/todos/{todo_id}/notes", "-", {})
    world = World({}, Tenants("", {}, uuid4()), tracker_knows_keys=True)

    with pytest.raises(pytest.fail.Exception, match="todo_id"):
        await url_of(case, world)


def test_a_route_that_takes_a_body_the_table_lacks_fails_its_cases() -> None:
    case = RouteCase("todo_api", "PATCH", "/api/v1/todos", "-", {"requestBody": {}})

    with pytest.raises(pytest.fail.Exception, match="PATCH /api/v1/todos takes a body"):
        body_of(case)
