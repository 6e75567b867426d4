"""The documentation page at /api/docs, in Chromium against the embedded stack (`make run`): the
OpenAPI document in Swagger UI and the AsyncAPI document, both shown, with every file from the
app itself (watched_page fails the test on any request to another host, any script error and
any refusal of the page's Content-Security-Policy)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared.contracts.topology import QUEUES, TOPIC
from tests.support.chromium import screenshot, watched_page
from tests.support.processes import EmbeddedStack

# without Playwright, chromium() reports it: a failure in CI, a skip elsewhere
with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, Page, Request, expect

DOCS = "/api/docs"


@pytest.fixture
def requested(browser: Browser, embedded_stack: EmbeddedStack) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page, and the URL of every request it makes."""
    base_url = embedded_stack.url
    context = browser.new_context(base_url=base_url, viewport={"width": 1200, "height": 900})
    urls: list[str] = []
    with watched_page(context, base_url) as opened:
        opened.on("request", lambda request: urls.append(request_path(request, base_url)))
        yield opened, urls


def request_path(request: Request, base_url: str) -> str:
    return request.url.removeprefix(base_url)


def document(page: Page, path: str) -> dict[str, Any]:
    answer = page.request.get(path)
    assert answer.ok, answer.text()
    loaded: dict[str, Any] = answer.json()
    return loaded


def test_shows_the_openapi_document_in_swagger_ui(requested: tuple[Page, list[str]]) -> None:
    page, urls = requested
    openapi = document(page, "/api/v1/openapi.json")
    operations = sum(len(item) for item in openapi["paths"].values())

    page.goto(DOCS)

    expect(page.locator("#swagger-ui")).to_have_attribute("aria-busy", "false")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(openapi["info"]["title"])
    expect(page.locator(".swagger-ui .opblock")).to_have_count(operations)
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    expect(page.get_by_role("alert")).to_be_empty()
    assert "/api/v1/openapi.json" in urls
    assert "/static/swagger-ui/swagger-ui-bundle.js" in urls
    screenshot(page, "docs-openapi.png")


def test_shows_the_asyncapi_document_in_its_tab(requested: tuple[Page, list[str]]) -> None:
    page, urls = requested
    asyncapi = document(page, "/api/asyncapi.json")

    page.goto(DOCS)
    page.get_by_role("tab", name="Events").click()

    panel = page.locator("#asyncapi")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("aria-busy", "false")
    expect(page.locator("#openapi")).to_be_hidden()
    expect(page.get_by_role("tab", name="Events")).to_have_attribute("aria-selected", "true")
    messages = len(asyncapi["components"]["messages"])
    # one for each message, and the envelope they all travel in
    expect(panel.locator("details.message")).to_have_count(messages + 1)
    expect(panel.locator("#asyncapi-operations tr")).to_have_count(len(asyncapi["operations"]))
    for address in (TOPIC, *(spec.name for spec in QUEUES)):
        expect(panel.locator(f'.channel[data-address="{address}"]')).to_be_visible()
    for spec in QUEUES:
        policy = json.dumps(json.loads(spec.filter_policy()), indent=2)
        expect(panel.locator(f'.channel[data-address="{spec.name}"] pre').first).to_have_text(
            policy
        )
    page.locator("#message-CalendarReady summary").click()
    expect(page.locator("#message-CalendarReady pre").first).to_contain_text('"blob_key"')
    expect(page.get_by_role("alert")).to_be_empty()
    assert "/api/asyncapi.json" in urls
    screenshot(page, "docs-asyncapi.png")


def test_the_events_tab_is_reached_by_its_link(requested: tuple[Page, list[str]]) -> None:
    page, _ = requested

    page.goto(f"{DOCS}#asyncapi")

    expect(page.locator("#asyncapi")).to_be_visible()
    expect(page.locator("#openapi")).to_be_hidden()
