"""The documentation routes of todo_api: the AsyncAPI document, the page that shows it beside the
OpenAPI document, and Swagger UI's files, every one from this app."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from shared.contracts.asyncapi import asyncapi_document
from tests.support.todo_http import Client

DOCS = "/api/docs"
ASYNCAPI = "/api/asyncapi.json"


class AssetFinder(HTMLParser):
    """The URLs of a page's scripts, stylesheets and links."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.linked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.loaded.append(found["src"] or "")
        if tag == "link" and found.get("href"):
            self.loaded.append(found["href"] or "")
        if tag == "a" and found.get("href"):
            self.linked.append(found["href"] or "")


async def test_serves_the_asyncapi_document(client: Client) -> None:
    response = await client.get(ASYNCAPI)

    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == asyncapi_document()


async def test_the_page_loads_only_files_of_this_app_and_each_is_there(client: Client) -> None:
    response = await client.get(DOCS)
    finder = AssetFinder()
    finder.feed(await response.text())

    assert response.status == 200
    assert response.content_type == "text/html"
    assert {"/static/swagger-ui/swagger-ui-bundle.js", "/static/docs.js"} <= set(finder.loaded)
    for url in [*finder.loaded, *finder.linked]:
        assert url.startswith("/"), f"{url} is on another host"
        asset = await client.get(url)
        assert asset.status == 200, url


# Python's table of types names JavaScript either way, by version
SCRIPT = {"text/javascript", "application/javascript"}


@pytest.mark.parametrize(
    ("path", "content_types"),
    [
        ("/static/swagger-ui/swagger-ui-bundle.js", SCRIPT),
        ("/static/swagger-ui/swagger-ui.css", {"text/css"}),
        ("/static/docs.js", SCRIPT),
    ],
)
async def test_the_page_s_files_are_served_as_what_they_are(
    client: Client, path: str, content_types: set[str]
) -> None:
    response = await client.get(path)

    assert response.status == 200
    assert response.content_type in content_types


@pytest.mark.parametrize("path", [DOCS, ASYNCAPI])
async def test_head_answers_like_get(client: Client, path: str) -> None:
    response = await client.head(path)

    assert response.status == 200
