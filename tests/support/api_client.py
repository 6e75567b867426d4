"""A small client for the public API, as a user of TaskOverflow sees it."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from shared.contracts.responses import TERMINAL_STATUSES
from tests.support.polling import eventually


class ApiClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def create_todo(self, **fields: Any) -> dict[str, Any]:
        async with self.session.post(f"{self.base_url}/api/v1/todos", json=fields) as response:
            assert response.status == 201, await response.text()
            return dict(await response.json())

    async def update_todo(self, todo_id: int, **fields: Any) -> dict[str, Any]:
        url = f"{self.base_url}/api/v1/todos/{todo_id}"
        async with self.session.put(url, json=fields) as response:
            assert response.status == 200, await response.text()
            return dict(await response.json())

    async def request_calendar(self, idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        url = f"{self.base_url}/api/v1/todos/ical"
        async with self.session.post(url, headers=headers) as response:
            assert response.status == 202, await response.text()
            return dict(await response.json())

    async def issue_feed_url(self) -> str:
        """A new secret calendar feed URL for the client's tenant."""
        async with self.session.post(f"{self.base_url}/api/v1/todos/calendar-feed") as response:
            assert response.status == 201, await response.text()
            return str((await response.json())["feed_url"])

    async def status(self, task_url: str) -> tuple[int, dict[str, Any]]:
        async with self.session.get(task_url) as response:
            return response.status, dict(await response.json())

    async def wait_until_finished(self, task_url: str, timeout_s: float = 30) -> dict[str, Any]:
        seen: list[dict[str, Any]] = []

        async def finished() -> bool:
            status, body = await self.status(task_url)
            assert status == 200, body
            seen.append(body)
            return body["task_status"] in TERMINAL_STATUSES

        started = time.monotonic()
        await eventually(finished, timeout_s, interval_s=0.05)
        seen[-1]["_elapsed_s"] = time.monotonic() - started
        return seen[-1]

    async def result(self, result_url: str) -> tuple[int, str, bytes, str]:
        """Status, content type, body and Content-Disposition of a result download."""
        async with self.session.get(result_url) as response:
            disposition = response.headers.get("Content-Disposition", "")
            return response.status, response.content_type, await response.read(), disposition
