"""HTTP requests counted by route template and the status the client got, over a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CONTENT_TYPE_LATEST

from shared.app.app_keys import metrics_url_key
from shared.app.resources import service_app
from shared.settings import Settings
from shared.web.http import bad_request
from tests.support.scrapes import Scrape


async def item(request: web.Request) -> web.Response:
    if request.match_info["id"] == "bad":
        raise bad_request("id: not a number")
    if request.match_info["id"] == "gone":
        raise web.HTTPGone()
    if request.match_info["id"] == "broken":
        raise RuntimeError("a bug")
    return web.json_response({"id": request.match_info["id"]})


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = service_app(Settings(metrics_port=0))
    app.router.add_get("/items/{id}", item)
    async with TestClient(TestServer(app)) as running:
        yield running


async def scrape(client: TestClient[web.Request, web.Application]) -> Scrape:
    metrics_url = client.app[metrics_url_key]
    response = await client.session.get(f"{metrics_url}/metrics")
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    return Scrape.parse(await response.text())


async def test_counts_each_status_the_client_got_under_the_route_template(
    client: TestClient[web.Request, web.Application],
) -> None:
    for path in ("/items/1", "/items/2", "/items/bad", "/items/gone", "/items/broken"):
        await client.get(path)

    found = await scrape(client)

    def requests(status: str) -> float | None:
        return found.value("http_requests_total", route="/items/{id}", method="GET", status=status)

    assert [requests(status) for status in ("200", "400", "410", "500")] == [2, 1, 1, 1]
    timed = found.value("http_request_duration_seconds_count", route="/items/{id}", method="GET")
    assert timed == 5


async def test_paths_no_route_matches_are_one_series_whatever_they_are(
    client: TestClient[web.Request, web.Application],
) -> None:
    for number in range(20):
        await client.get(f"/probe/{number}")
    await client.post("/items/1")
    await client.request("PROPFIND", "/items/1")

    found = await scrape(client)

    assert found.value("http_requests_total", route="unmatched", method="GET", status="404") == 20
    assert found.value("http_requests_total", route="unmatched", method="POST", status="405") == 1
    assert found.value("http_requests_total", route="unmatched", method="other", status="405") == 1
    routes = {
        dict(labels).get("route") for name, labels in found.values if name.startswith("http_")
    }
    assert routes == {"unmatched"}
