"""The job history and expired results on the public base URL, against three service processes on
SNS/SQS (moto) and on the embedded transport: the tracker answers, todo_api forwards."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import aiohttp
import pytest

from embedded.transport.clients import BLOBS_FOLDER
from services.calendar_worker.rendering import calendar_blob_key
from shared.aws.clients import aws_client
from shared.contracts.tenancy import ANONYMOUS_TENANT
from shared.contracts.topology import Names
from shared.settings import Settings
from tests.support.api_client import ApiClient
from tests.support.processes import Stack

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


async def history(http: aiohttp.ClientSession, stack: Stack, query: str) -> tuple[int, Any]:
    async with http.get(f"{stack.base_url}/api/v1/todos/ical?{query}") as response:
        return response.status, await response.json()


async def delete_calendar_file(settings: Settings, task_id: UUID | str) -> None:
    key = calendar_blob_key(ANONYMOUS_TENANT, UUID(str(task_id)))
    if settings.transport == "embedded":
        (settings.var_dir / BLOBS_FOLDER / key).unlink()
        return
    async with aws_client(settings, "s3") as s3:
        await s3.delete_object(Bucket=Names(settings.resource_prefix).bucket, Key=key)


async def test_finished_jobs_are_listed_newest_first_a_page_at_a_time(
    api: ApiClient, stack: Stack, http: aiohttp.ClientSession
) -> None:
    await api.create_todo(title="Listed")
    accepted = [await api.request_calendar() for _ in range(3)]
    for job in accepted:
        await api.wait_until_finished(job["task_url"])
    newest_first = [job["task_id"] for job in reversed(accepted)]

    first = await history(http, stack, "limit=2")
    second = await history(http, stack, f"limit=2&cursor={first[1]['next_cursor']}")
    failures = await history(http, stack, "state=FAILURE")
    refused = await history(http, stack, "limit=0")

    assert [job["task_id"] for job in first[1]["jobs"] + second[1]["jobs"]] == newest_first
    assert second[1]["next_cursor"] is None
    newest = first[1]["jobs"][0]
    assert (newest["task_status"], newest["todo_count"], newest["expired"]) == ("SUCCESS", 1, False)
    code, content_type, _, _ = await api.result(newest["result_url"])
    assert (code, content_type) == (200, "text/calendar")
    assert failures == (200, {"jobs": [], "next_cursor": None})
    assert refused[0] == 400
    assert list(refused[1]) == ["error"]


async def test_a_calendar_whose_file_is_gone_answers_410_and_says_expired(
    api: ApiClient, stack: Stack, http: aiohttp.ClientSession
) -> None:
    accepted = await api.request_calendar()
    final = await api.wait_until_finished(accepted["task_url"])
    await delete_calendar_file(stack.settings, accepted["task_id"])

    code, content_type, body, _ = await api.result(final["result_url"])
    _, status = await api.status(accepted["task_url"])
    _, listed = await history(http, stack, "limit=1")

    assert (code, content_type) == (410, "application/json")
    assert json.loads(body) == {"error": "Task result expired"}
    assert (status["task_status"], status["expired"]) == ("SUCCESS", True)
    assert listed["jobs"][0]["task_id"] == accepted["task_id"]
    assert (listed["jobs"][0]["expired"], listed["jobs"][0]["result_url"]) == (True, None)
