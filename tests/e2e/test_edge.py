"""`python -m services.edge`: todo_api answering the job routes from the tracker's tables in its
own process, beside the tracker and the worker as processes of their own (docker-compose.yml)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import aiohttp
import pytest

from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.settings import Settings
from tests.e2e.conftest import running_processes
from tests.support.api_client import ApiClient
from tests.support.processes import Service, Stack
from tests.support.sse import next_event

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

# the four answers, with room for a stalled host: still far below the tracker's read timeout
# (30 s), which a forwarded poll would wait out
ANSWER_S = 15.0


@pytest.fixture
def broker() -> str:
    return "aws"


@pytest.fixture
def stack(stack_env: dict[str, str], stack_settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    # every service of the test shares one schema: the tracker's tables are in it
    env = {**stack_env, "JOB_TRACKER_DATABASE_SCHEMA": str(stack_settings.database_schema)}
    with running_processes(env, stack_settings, tmp_path, api_module="services.edge") as running:
        yield running


@asynccontextmanager
async def paused(service: Service) -> AsyncIterator[None]:
    """`service`'s process stopped (SIGSTOP) for the block: it answers nothing meanwhile."""
    assert service.process is not None
    os.kill(service.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(service.process.pid, signal.SIGCONT)


async def test_the_practicals_session_through_the_edge(api: ApiClient, stack: Stack) -> None:
    await api.create_todo(title="Project Proposal", deadline_at="2023-04-03T14:00:00")
    accepted = await api.request_calendar()

    final = await api.wait_until_finished(accepted["task_url"])
    code, content_type, body, _ = await api.result(final["result_url"])
    async with api.session.get(f"{stack.base_url}/api/v1/todos/ical") as history:
        listed = await history.json()

    assert final["task_status"] == "SUCCESS", final
    assert (code, content_type) == (200, "text/calendar")
    assert b"SUMMARY:Project Proposal" in body
    assert accepted["task_id"] in [job["task_id"] for job in listed["jobs"]]


async def test_polls_are_answered_while_the_tracker_process_is_paused(
    api: ApiClient, stack: Stack
) -> None:
    await api.create_todo(title="polled")
    finished = await api.wait_until_finished((await api.request_calendar())["task_url"])
    unseen = issue_task_id(stack.settings.task_secret, ANONYMOUS_TENANT)

    async with paused(stack.tracker), asyncio.timeout(ANSWER_S):
        done = await api.status(finished["result_url"].removesuffix("/result") + "/status")
        code, _, body, _ = await api.result(finished["result_url"])
        pending = await api.status(f"{stack.base_url}/api/v1/todos/ical/{unseen}/status")
        missing = await api.status(f"{stack.base_url}/api/v1/todos/ical/{uuid4()}/status")

    assert (done[0], done[1]["task_status"]) == (200, "SUCCESS")
    assert (code, body[:15]) == (200, b"BEGIN:VCALENDAR")
    assert (pending[0], pending[1]["task_status"]) == (200, "PENDING")
    assert missing == (404, {"error": "Task not found"})


async def test_a_stream_on_the_edge_hears_the_tracker_fold_in_its_own_process(
    api: ApiClient, stack: Stack
) -> None:
    await api.create_todo(title="watched")
    async with paused(stack.tracker):
        task_url = (await api.request_calendar())["task_url"]
        events_url = task_url.removesuffix("/status") + "/events"
        async with api.session.get(events_url) as stream:
            first = json.loads((await next_event(stream)).data)["task_status"]
            # the tracker folds once it runs again; its NOTIFY reaches the edge's stream
            os.kill(_pid(stack.tracker), signal.SIGCONT)
            statuses = [first]
            while statuses[-1] not in {"SUCCESS", "FAILURE"}:
                statuses.append((await next_event(stream)).status)

    assert first == "PENDING"
    assert statuses[-1] == "SUCCESS"


def _pid(service: Service) -> int:
    assert service.process is not None
    return service.process.pid


async def test_an_id_issued_to_another_tenant_is_not_found(
    http: aiohttp.ClientSession, stack: Stack
) -> None:
    # as the tracker itself answers: the id proves nothing to this tenant
    other = issue_task_id(stack.settings.task_secret, "another-tenant")
    async with http.get(f"{stack.base_url}/api/v1/todos/ical/{other}/status") as answer:
        assert (answer.status, await answer.json()) == (404, {"error": "Task not found"})
