"""Two tenants side by side through the whole pipeline, with AUTH_MODE=required: todo_api, the
calendar worker and the job tracker as processes on PostgreSQL, over the embedded transport and
over AWS (moto, or LocalStack under `make test-localstack`). Each tenant's todos, calendars, job
history and cancels are its own; nothing of one reaches the other."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import uuid4

import aiohttp
import pytest

from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.auth import bearer, issue_key
from tests.support.polling import eventually
from tests.support.processes import Stack

pytestmark = pytest.mark.localstack
JOBS = "/api/v1/todos/ical"
# the tracker learns a key from todo_api's published ApiKeyIssued: a moment after it is issued
KEY_DELIVERY_S = 20.0


@pytest.fixture
def stack_env(stack_env: dict[str, str]) -> dict[str, str]:
    return {**stack_env, "AUTH_MODE": "required"}


@dataclass(frozen=True)
class Member:
    tenant: str
    client: ApiClient

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.client.session.get(f"{self.client.base_url}{path}") as response:
            return response.status, await response.read()

    async def finished_job(self) -> str:
        """A calendar of this tenant's todos, through to SUCCESS: its task id."""
        accepted = await self.client.request_calendar()
        final = await self.client.wait_until_finished(accepted["task_url"])
        assert final["task_status"] == "SUCCESS", final
        return str(accepted["task_id"])


@contextlib.asynccontextmanager
async def member(stack: Stack, tenant: str) -> AsyncIterator[Member]:
    settings: Settings = stack.settings
    key = await issue_key(settings, tenant=tenant)
    async with aiohttp.ClientSession(headers=bearer(key)) as session:
        yield Member(tenant, ApiClient(session, stack.base_url))


async def tracker_knows(someone: Member) -> None:
    """Wait until the job tracker accepts the member's key (its history answers 200)."""

    async def accepted() -> bool:
        return (await someone.get(JOBS))[0] == 200

    await eventually(accepted, KEY_DELIVERY_S, interval_s=0.1)


async def test_two_tenants_share_nothing_end_to_end(stack: Stack) -> None:
    async with member(stack, "tenant-a") as a, member(stack, "tenant-b") as b:
        await a.client.create_todo(title="A's todo", deadline_at="2026-12-24T09:00:00")
        await b.client.create_todo(title="B's todo", deadline_at="2026-12-25T09:00:00")
        await tracker_knows(a)
        await tracker_knows(b)

        a_job, b_job = await a.finished_job(), await b.finished_job()

        a_file = await a.get(f"{JOBS}/{a_job}/result")
        assert a_file[0] == 200
        assert b"A's todo" in a_file[1]
        assert b"B's todo" not in a_file[1]
        never_used = await b.get(f"{JOBS}/{uuid4()}/status")
        for path in (f"{JOBS}/{a_job}/status", f"{JOBS}/{a_job}/result"):
            assert await b.get(path) == never_used
        async with b.client.session.delete(f"{stack.base_url}{JOBS}/{a_job}") as cancel:
            assert cancel.status == 404
        b_history = (await b.get(JOBS))[1].decode()
        assert b_job in b_history
        assert a_job not in b_history
        b_todos = (await b.get("/api/v1/todos"))[1].decode()
        assert "B's todo" in b_todos
        assert "A's todo" not in b_todos
        b_feed = (await b.get("/api/v1/todos/calendar.ics"))[1].decode()
        assert "B's todo" in b_feed
        assert "A's todo" not in b_feed
