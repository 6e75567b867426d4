"""What the todo API tests send and check over HTTP: the routes, the answers' shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import icalendar
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]
TODOS = "/api/v1/todos"
FEED = f"{TODOS}/calendar.ics"
NOT_FOUND = {"error": "Todo not found"}
FIELDS = {"id", "title", "description", "completed", "deadline_at", "created_at", "updated_at"}


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    response = await client.post(TODOS, json={"title": "a todo", **fields})
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def listed(client: Client, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"{TODOS}{query}")
    assert response.status == 200, await response.text()
    body: list[dict[str, Any]] = await response.json()
    return body


async def titles(client: Client, query: str = "") -> list[str]:
    return [todo["title"] for todo in await listed(client, query)]


async def error_of(response: ClientResponse, status: int) -> str:
    """Assert the shape every error shares and return its message."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert list(body) == ["error"]
    assert isinstance(body["error"], str)
    assert body["error"]
    message: str = body["error"]
    return message


def iso(moment: datetime) -> str:
    return moment.isoformat()


def assert_naive_iso(text: str, earliest: datetime, latest: datetime) -> None:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is None
    assert moment.isoformat() == text
    assert earliest <= moment <= latest


def summaries(body: bytes) -> list[str]:
    """The SUMMARY of each event in a calendar file, in order."""
    calendar = icalendar.Calendar.from_ical(body)
    return [str(event["SUMMARY"]) for event in calendar.walk("VEVENT")]
