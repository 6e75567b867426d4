"""Two tenants and an operator on a stack that requires credentials: an HTTP session for each
(and one without credentials), and what tenant A owns for tenant B to look for.

Every todo of A's holds A_MARK in its title and A's calendar job is known by its task id: an
answer to anyone else that holds either shows A's data.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import aiohttp

from shared.auth.api_keys import ApiKey
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.auth import bearer, issue_key
from tests.support.polling import eventually

Who = Literal["nobody", "a", "b", "operator"]
WITH_KEYS: tuple[Who, ...] = ("a", "b", "operator")
A_MARK = "owned-by-tenant-a"
JOB_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Tenants:
    api_url: str
    sessions: Mapping[Who, aiohttp.ClientSession]
    a_task_id: UUID

    def client(self, who: Who) -> ApiClient:
        """todo_api as `who` uses it."""
        return ApiClient(self.sessions[who], self.api_url)

    @property
    def marks_of_a(self) -> tuple[str, ...]:
        return (A_MARK, str(self.a_task_id))


@contextlib.asynccontextmanager
async def tenants_on(settings: Settings, api_url: str) -> AsyncIterator[Tenants]:
    """Keys issued into the running todo_api's store (on `settings`' database) for tenant A and
    tenant B (members) and an operator; a todo of each tenant's, and a finished job of A's."""
    keys: dict[Who, ApiKey] = {
        "a": await issue_key(settings, tenant="tenant-a"),
        "b": await issue_key(settings, tenant="tenant-b"),
        "operator": await issue_key(settings, roles=["operator"], tenant="operations"),
    }
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with contextlib.AsyncExitStack() as opened:
        sessions: dict[Who, aiohttp.ClientSession] = {
            "nobody": await opened.enter_async_context(aiohttp.ClientSession(timeout=timeout))
        }
        for who, key in keys.items():
            session = aiohttp.ClientSession(timeout=timeout, headers=bearer(key))
            sessions[who] = await opened.enter_async_context(session)
        a = ApiClient(sessions["a"], api_url)
        await a.create_todo(title=f"{A_MARK}: the first")
        await ApiClient(sessions["b"], api_url).create_todo(title="tenant B's own")
        yield Tenants(api_url, sessions, await finished_job(a))


async def finished_job(client: ApiClient) -> UUID:
    """A calendar job through todo_api, the calendar worker and the job tracker, succeeded."""
    # the cap on jobs in flight asks the job tracker, which takes the new key a moment later
    await eventually(lambda: tracker_takes_key(client), JOB_TIMEOUT_S)
    accepted = await client.request_calendar()
    status = await client.wait_until_finished(accepted["task_url"], timeout_s=JOB_TIMEOUT_S)
    assert status["task_status"] == "SUCCESS", status
    return UUID(accepted["task_id"])


async def tracker_takes_key(client: ApiClient) -> bool:
    """Whether the job tracker knows the client's key: the job history, which todo_api asks it,
    stops refusing it."""
    async with client.session.get(f"{client.base_url}/api/v1/todos/ical") as response:
        return response.status != 401


async def keys_taken(tenants: Tenants, url: str, timeout_s: float) -> bool:
    """Whether, within `timeout_s`, the route at `url` stops refusing every tenant's key as
    unknown (a service that learns keys from todo_api's events takes a moment to)."""

    async def all_taken() -> bool:
        for who in WITH_KEYS:
            async with tenants.sessions[who].get(url) as response:
                if response.status == 401:
                    return False
        return True

    try:
        await eventually(all_taken, timeout_s, interval_s=0.1)
    except TimeoutError:
        return False
    return True
