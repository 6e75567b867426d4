"""Cross-origin calls to the job tracker, which the load balancer sends the job status and
result routes straight to (SQLite, PostgreSQL): a page on CORS_ALLOWED_ORIGINS has its preflight
answered before authentication and its answers, errors included, name its origin; any other
origin gets no CORS header and a JSON 4xx for its preflight."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientResponse

from shared.aws.blobs import InMemoryBlobStore
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.settings import Settings
from tests.support.auth import requiring_credentials
from tests.support.tracker_jobs import Tracker, running_tracker

PAGE = "https://app.example.com"
OTHER = "https://evil.example"


@pytest.fixture
async def tracker(service_settings: Settings) -> AsyncIterator[Tracker]:
    settings = requiring_credentials(service_settings).model_copy(
        update={"cors_allowed_origins": (PAGE,)}
    )
    async with running_tracker(settings, InMemoryBlobStore()) as running:
        yield running


def job_paths(settings: Settings) -> list[str]:
    task_id = issue_task_id(settings.task_secret, ANONYMOUS_TENANT)
    return [f"/api/v1/todos/ical/{task_id}/status", f"/api/v1/todos/ical/{task_id}/result"]


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }


def cors_headers(response: ClientResponse) -> set[str]:
    return {name for name in response.headers if name.lower().startswith("access-control-")}


async def test_the_page_s_preflight_is_answered_without_credentials(tracker: Tracker) -> None:
    for path in job_paths(tracker.settings):
        response = await tracker.client.options(path, headers=preflight(PAGE))

        assert response.status == 204, path
        assert response.headers["Access-Control-Allow-Origin"] == PAGE
        assert "Origin" in response.headers["Vary"]
        assert "GET" in response.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


async def test_a_refusal_for_credentials_still_names_the_page(tracker: Tracker) -> None:
    for path in job_paths(tracker.settings):
        response = await tracker.client.get(path, headers={"Origin": PAGE})

        assert response.status == 401, path
        assert response.content_type == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == PAGE
        assert "Origin" in response.headers["Vary"]
        assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


async def test_another_origin_gets_no_cors_header_and_a_json_4xx(tracker: Tracker) -> None:
    for path in job_paths(tracker.settings):
        asked = await tracker.client.options(path, headers=preflight(OTHER))
        read = await tracker.client.get(path, headers={"Origin": OTHER})

        assert 400 <= asked.status < 500, path
        assert asked.content_type == "application/json"
        assert read.status == 401
        assert cors_headers(asked) == cors_headers(read) == set()
