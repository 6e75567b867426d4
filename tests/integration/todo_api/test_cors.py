"""Cross-origin calls to todo_api (SQLite, PostgreSQL): a page on CORS_ALLOWED_ORIGINS has its
preflight answered before authentication and its answers, errors included, name its origin; its
changes pass the cross-site refusal. Any other origin gets no CORS header, its changes are still
refused, and its preflight is a JSON 4xx, never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from shared.settings import Settings
from tests.support.auth import requiring_credentials
from tests.support.todo_http import TODOS, Client, create, error_of

PAGE = "https://app.example.com"
OTHER = "https://evil.example"
EXPOSED = {"ETag", "Retry-After", "RateLimit", "RateLimit-Policy"}


def with_page(settings: Settings) -> Settings:
    return settings.model_copy(update={"cors_allowed_origins": (PAGE,)})


@pytest.fixture
async def client(service_settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(with_page(service_settings)))) as client:
        yield client


@pytest.fixture
async def guarded(service_settings: Settings) -> AsyncIterator[Client]:
    settings = requiring_credentials(with_page(service_settings))
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


def preflight(origin: str, method: str = "PUT") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


def cors_headers(response: ClientResponse) -> set[str]:
    return {name for name in response.headers if name.lower().startswith("access-control-")}


def listed(value: str) -> set[str]:
    return {item.strip() for item in value.split(",")}


class TestTheAllowedPage:
    async def test_its_preflight_is_answered_without_credentials(self, guarded: Client) -> None:
        response = await guarded.options(f"{TODOS}/1", headers=preflight(PAGE))

        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == PAGE
        assert "Origin" in listed(response.headers["Vary"])
        assert listed(response.headers["Access-Control-Allow-Methods"]) >= {"GET", "PUT", "DELETE"}
        assert "POST" not in listed(response.headers["Access-Control-Allow-Methods"])
        assert listed(response.headers["Access-Control-Allow-Headers"]) == {
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-None-Match",
        }
        assert int(response.headers["Access-Control-Max-Age"]) > 0

    async def test_the_preflight_names_the_methods_of_the_route_asked_about(
        self, guarded: Client
    ) -> None:
        response = await guarded.options(TODOS, headers=preflight(PAGE, "POST"))

        assert response.status == 204
        assert "POST" in listed(response.headers["Access-Control-Allow-Methods"])
        assert "DELETE" not in listed(response.headers["Access-Control-Allow-Methods"])

    async def test_a_refusal_for_credentials_still_names_it(self, guarded: Client) -> None:
        response = await guarded.get(TODOS, headers={"Origin": PAGE})

        assert await error_of(response, 401) == "Authentication required"
        assert response.headers["Access-Control-Allow-Origin"] == PAGE
        assert "Origin" in listed(response.headers["Vary"])
        assert listed(response.headers["Access-Control-Expose-Headers"]) == EXPOSED

    async def test_its_changes_pass_the_cross_site_refusal(self, client: Client) -> None:
        # what a browser sends with a fetch from the page on its own origin
        sent = {"Origin": PAGE, "Sec-Fetch-Site": "cross-site"}

        created = await client.post(TODOS, json={"title": "from the page"}, headers=sent)
        todo_id = (await created.json())["id"]
        updated = await client.put(f"{TODOS}/{todo_id}", json={"completed": True}, headers=sent)
        deleted = await client.delete(f"{TODOS}/{todo_id}", headers=sent)

        assert [created.status, updated.status, deleted.status] == [201, 200, 200]
        assert created.headers["Access-Control-Allow-Origin"] == PAGE

    async def test_a_preflight_for_a_path_that_is_not_there_is_a_json_404(
        self, client: Client
    ) -> None:
        response = await client.options("/api/v1/nowhere", headers=preflight(PAGE))

        await error_of(response, 404)


class TestAnyOtherOrigin:
    @pytest.mark.parametrize("origin", [OTHER, "null", "https://app.example.com.evil.example"])
    async def test_its_preflight_is_a_json_4xx_with_no_cors_header(
        self, guarded: Client, client: Client, origin: str
    ) -> None:
        for service in (guarded, client):
            response = await service.options(f"{TODOS}/1", headers=preflight(origin))

            assert 400 <= response.status < 500
            assert response.content_type == "application/json"
            assert cors_headers(response) == set()

    async def test_its_answers_name_no_origin(self, client: Client) -> None:
        await create(client, title="mine")

        response = await client.get(TODOS, headers={"Origin": OTHER})

        assert response.status == 200
        assert cors_headers(response) == set()

    async def test_its_changes_are_still_refused(self, client: Client) -> None:
        response = await client.post(TODOS, json={"title": "theirs"}, headers={"Origin": OTHER})

        assert await error_of(response, 403) == "Cross-site requests may not change anything here"
        assert cors_headers(response) == set()


async def test_with_no_origin_allowed_the_page_gets_no_cors_header(
    service_settings: Settings,
) -> None:
    async with TestClient(TestServer(create_app(service_settings))) as client:
        asked = await client.options(f"{TODOS}/1", headers=preflight(PAGE))
        changed = await client.post(TODOS, json={"title": "x"}, headers={"Origin": PAGE})

        assert 400 <= asked.status < 500
        assert asked.content_type == "application/json"
        assert cors_headers(asked) == set()
        await error_of(changed, 403)
