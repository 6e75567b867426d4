"""The service around the todo routes: health, unknown routes and methods, OpenAPI, the page."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from tests.support.access_table.catalogue import BESIDE_THE_DOCUMENT
from tests.support.todo_http import TODOS, Client, error_of


class TestHealth:
    async def test_answers_ok_with_exactly_the_status_field(self, client: Client) -> None:
        response = await client.get("/api/v1/health")

        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"status": "ok"}


class TestUnknownRoutesAndMethods:
    @pytest.mark.parametrize(
        "path", ["/nowhere", "/api/v1/todo", f"{TODOS}/1/extra", "/api/v2/todos"]
    )
    async def test_an_unknown_route_is_a_json_404(self, client: Client, path: str) -> None:
        await error_of(await client.get(path), 404)

    @pytest.mark.parametrize(
        ("method", "path"),
        [("DELETE", TODOS), ("PUT", TODOS), ("PATCH", f"{TODOS}/1"), ("POST", f"{TODOS}/1")],
    )
    async def test_a_wrong_method_is_a_json_405_that_says_what_is_allowed(
        self, client: Client, method: str, path: str
    ) -> None:
        response = await client.request(method, path)

        await error_of(response, 405)
        assert "GET" in response.headers.get("Allow", "")


class TestOpenApi:
    async def test_describes_every_todo_route(self, client: Client) -> None:
        document = await (await client.get("/api/v1/openapi.json")).json()

        assert document["openapi"].startswith("3.1")
        assert {"title", "version"} <= set(document["info"])
        operations = {
            (method.upper(), path) for path, item in document["paths"].items() for method in item
        }
        assert operations >= {
            ("GET", "/api/v1/health"),
            ("GET", TODOS),
            ("POST", TODOS),
            ("GET", f"{TODOS}/{{id}}"),
            ("PUT", f"{TODOS}/{{id}}"),
            ("DELETE", f"{TODOS}/{{id}}"),
        }
        assert operations >= _served_api_operations(client.app)

    async def test_documents_the_request_bodies_with_their_rules(self, client: Client) -> None:
        document = await (await client.get("/api/v1/openapi.json")).json()
        schemas = document["components"]["schemas"]

        create_body = document["paths"][TODOS]["post"]["requestBody"]
        update_body = document["paths"][f"{TODOS}/{{id}}"]["put"]["requestBody"]
        assert _schema_name(create_body) == "TodoIn"
        assert _schema_name(update_body) == "TodoPatch"
        todo_in = schemas["TodoIn"]
        assert todo_in["required"] == ["title"]
        assert todo_in["additionalProperties"] is False
        assert set(todo_in["properties"]) == {"title", "description", "completed", "deadline_at"}
        assert todo_in["properties"]["title"]["maxLength"] == 80
        assert "required" not in schemas["TodoPatch"]

    async def test_every_reference_resolves(self, client: Client) -> None:
        document = await (await client.get("/api/v1/openapi.json")).json()

        refs = _refs(document)

        assert refs
        assert {ref.rsplit("/", 1)[-1] for ref in refs} <= set(document["components"]["schemas"])


class TestIndexPage:
    async def test_serves_the_web_page(self, client: Client) -> None:
        response = await client.get("/")

        assert response.status == 200
        assert response.content_type == "text/html"
        assert "TaskOverflow" in await response.text()


def _served_api_operations(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.resource.canonical not in BESIDE_THE_DOCUMENT["todo_api"]
        and route.method != "HEAD"
    }


def _schema_name(request_body: dict[str, Any]) -> str:
    ref: str = request_body["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
