"""No route of any service skips authentication or tenancy: every operation in the services'
OpenAPI documents (catalogue.py), asked without credentials, by another tenant, by a member
where only operators may go; never answered with a 5xx."""

from __future__ import annotations

import json

import pytest

from tests.support.access_table.answers import call
from tests.support.access_table.catalogue import (
    BY_ID,
    GUARDED,
    OPERATOR_ANSWERS,
    OPERATOR_ROUTES,
    PUBLIC_ROUTES,
    PUBLIC_WITH_SECRETS,
    READS,
    WRITES,
    RouteCase,
    documented,
)
from tests.support.access_table.filling import World, body_of, require_keys_known, url_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("case", PUBLIC_ROUTES, ids=str)
async def test_a_public_route_answers_without_credentials(case: RouteCase, world: World) -> None:
    nobody = world.tenants.sessions["nobody"]

    answer = await call(nobody, case.method, await url_of(case, world), body_of(case))

    assert answer.status == 200, answer
    assert "WWW-Authenticate" not in answer.headers


@pytest.mark.parametrize("case", PUBLIC_WITH_SECRETS, ids=str)
async def test_a_public_route_refuses_a_made_up_secret_as_not_found(
    case: RouteCase, world: World
) -> None:
    nobody = world.tenants.sessions["nobody"]

    answer = await call(nobody, case.method, await url_of(case, world, "never_used"))

    assert answer.status == 404, answer
    assert answer.error()
    assert "WWW-Authenticate" not in answer.headers


@pytest.mark.parametrize("case", GUARDED, ids=str)
async def test_without_credentials_a_route_is_401_with_a_bearer_challenge(
    case: RouteCase, world: World
) -> None:
    nobody = world.tenants.sessions["nobody"]

    answer = await call(nobody, case.method, await url_of(case, world), body_of(case))

    assert answer.status == 401, answer
    assert answer.headers.get("WWW-Authenticate") == "Bearer"
    assert answer.error()


@pytest.mark.parametrize("case", BY_ID, ids=str)
async def test_another_tenants_ids_answer_as_ids_never_used(case: RouteCase, world: World) -> None:
    require_keys_known(case, world)
    sessions, body = world.tenants.sessions, body_of(case)
    of_a = await url_of(case, world, "of_a")

    by_b = await call(sessions["b"], case.method, of_a, body)
    never_used = await call(
        sessions["b"], case.method, await url_of(case, world, "never_used"), body
    )
    by_a = await call(sessions["a"], case.method, of_a, body)

    assert (by_b.status, by_b.text) == (never_used.status, never_used.text)
    # a route that can answer 404 answers it; the todo DELETE answers a missing todo 200 {}
    if "404" in case.operation.get("responses", {}):
        assert never_used.status == 404, never_used
        assert never_used.error()
    # the ids are A's and the route knows them: its owner gets another answer
    assert (by_a.status, by_a.text) != (never_used.status, never_used.text)


@pytest.mark.parametrize("case", READS, ids=str)
async def test_a_list_shows_none_of_another_tenants_items(case: RouteCase, world: World) -> None:
    require_keys_known(case, world)
    sessions, marks = world.tenants.sessions, world.tenants.marks_of_a
    url = await url_of(case, world)

    by_a = await call(sessions["a"], case.method, url)
    by_b = await call(sessions["b"], case.method, url)

    assert (by_a.status, by_b.status) == (200, 200), (by_a, by_b)
    # what the owner sees there is what would give the other tenant away
    assert any(mark in by_a.text for mark in marks), by_a
    assert [mark for mark in marks if mark in by_b.text] == [], by_b


@pytest.mark.parametrize("case", WRITES, ids=str)
async def test_a_write_answers_with_none_of_another_tenants_items(
    case: RouteCase, world: World
) -> None:
    member, marks = world.tenants.sessions["b"], world.tenants.marks_of_a

    by_b = await call(member, case.method, await url_of(case, world), body_of(case))

    assert 200 <= by_b.status < 300, by_b
    assert [mark for mark in marks if mark in by_b.text] == [], by_b


@pytest.mark.parametrize("case", OPERATOR_ROUTES, ids=str)
async def test_a_member_is_refused_an_operator_route(case: RouteCase, world: World) -> None:
    require_keys_known(case, world)
    member = world.tenants.sessions["b"]

    answer = await call(member, case.method, await url_of(case, world), body_of(case))

    assert answer.status == 403, answer
    assert answer.error()


@pytest.mark.parametrize("case", OPERATOR_ROUTES, ids=str)
async def test_an_operator_reads_an_operator_route(case: RouteCase, world: World) -> None:
    require_keys_known(case, world)
    operator = world.tenants.sessions["operator"]

    answer = await call(operator, case.method, await url_of(case, world), body_of(case))

    assert answer.status == OPERATOR_ANSWERS.get(case.key, 200), answer
    if answer.status != 200:
        assert answer.error()


async def test_the_document_todo_api_serves_lists_the_routes_the_table_reads(
    world: World,
) -> None:
    url = f"{world.urls['todo_api']}/api/v1/openapi.json"

    answer = await call(world.tenants.sessions["nobody"], "GET", url)

    assert answer.status == 200, answer
    paths = json.loads(answer.text)["paths"]
    served = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    assert served == {case.key for case in documented("todo_api")}
