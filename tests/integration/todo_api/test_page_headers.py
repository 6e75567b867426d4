"""The pages' headers over a real socket: only their own scripts and styles, never in a frame,
nothing sniffed; and pages that need nothing the policy refuses (no inline script or style)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support.todo_http import Client

STATIC = Path(__file__).resolve().parents[3] / "services" / "todo_api" / "static"
PAGES = ["/", "/ops", "/api/docs"]
# the pages, their files, the API and an error: a policy on every answer leaves no gap
ANSWERS = [
    *PAGES,
    "/static/app.js",
    "/static/ops.css",
    "/static/swagger-ui/swagger-ui-bundle.js",
    "/api/asyncapi.json",
    "/api/v1/todos",
    "/nowhere",
]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parsed}


@pytest.mark.parametrize("path", ANSWERS)
async def test_every_answer_carries_the_policy(client: Client, path: str) -> None:
    response = await client.get(path)

    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES)
async def test_the_pages_are_html_under_the_policy(client: Client, path: str) -> None:
    response = await client.get(path)

    assert response.status == 200
    assert response.content_type == "text/html"


async def test_the_docs_page_may_show_data_images_and_nothing_more(client: Client) -> None:
    page = directives((await client.get("/api/docs")).headers["Content-Security-Policy"])
    other = directives((await client.get("/static/app.js")).headers["Content-Security-Policy"])

    # Swagger UI's stylesheet draws its icons as data: URIs
    assert page.pop("img-src") == ["'self'", "data:"]
    assert other.pop("img-src") == ["'self'"]
    assert page == other


class InlineFinder(HTMLParser):
    """Whatever of a page a `script-src 'self'; style-src 'self'` policy would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "style":
            self.refused.append("<style>")
        if tag == "script" and not (found.get("src") or "").startswith("/static/"):
            self.refused.append(f"<script {found}>")
        stylesheet = tag == "link" and found.get("rel") == "stylesheet"
        if stylesheet and not (found.get("href") or "").startswith("/static/"):
            self.refused.append(f"<link {found}>")
        for name, value in attrs:
            if name == "style" or name.startswith("on") or (value or "").startswith("javascript:"):
                self.refused.append(f"<{tag} {name}={value!r}>")


@pytest.mark.parametrize("page", ["index.html", "ops.html", "docs.html"])
def test_the_pages_have_no_inline_script_or_style(page: str) -> None:
    finder = InlineFinder()
    finder.feed((STATIC / page).read_text())

    assert finder.refused == []


@pytest.mark.parametrize("script", ["app.js", "ops.js", "docs.js"])
def test_the_scripts_set_no_style_attribute_and_build_no_code(script: str) -> None:
    source = (STATIC / script).read_text()

    for refused in ('setAttribute("style"', "eval(", "new Function(", "innerHTML"):
        assert refused not in source
