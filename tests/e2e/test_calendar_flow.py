"""The practical's calendar session over HTTP, against three service processes."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import icalendar
import pytest

from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT
from tests.support.api_client import ApiClient
from tests.support.processes import Stack

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack


def vevents(body: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return [event for event in calendar.walk("VEVENT") if isinstance(event, icalendar.Event)]


class TestCalendarJob:
    async def test_the_practicals_session_ends_with_a_calendar_of_every_todo(
        self, api: ApiClient, stack: Stack
    ) -> None:
        await api.create_todo(
            title="Project Proposal",
            description="CSSE6400 Project Proposal Due",
            deadline_at="2023-04-03T14:00:00",
        )
        await api.create_todo(title="No deadline, no description")
        accepted = await api.request_calendar()

        task_url = accepted["task_url"]
        assert task_url == f"{stack.base_url}/api/v1/todos/ical/{accepted['task_id']}/status"
        status, first = await api.status(task_url)
        assert status == 200
        assert first["task_status"] in {"PENDING", "STARTED", "SUCCESS"}

        final = await api.wait_until_finished(task_url)
        assert final["task_status"] == "SUCCESS", final
        code, content_type, body, disposition = await api.result(final["result_url"])

        assert code == 200
        assert content_type == "text/calendar"
        assert "filename=" in disposition
        events = vevents(body)
        assert [str(event["UID"]) for event in events] == ["1", "2"]
        assert str(events[0]["SUMMARY"]) == "Project Proposal"
        assert events[0]["DTSTART"].to_ical() == b"20230403T140000"
        assert b"\r\n" in body

    async def test_the_calendar_is_a_snapshot_taken_when_it_was_requested(
        self, api: ApiClient
    ) -> None:
        todo = await api.create_todo(title="Before")
        accepted = await api.request_calendar()
        await api.update_todo(todo["id"], title="After")

        final = await api.wait_until_finished(accepted["task_url"])
        _, _, body, _ = await api.result(final["result_url"])

        assert [str(event["SUMMARY"]) for event in vevents(body)] == ["Before"]

    async def test_a_job_for_no_todos_succeeds_with_an_empty_calendar(self, api: ApiClient) -> None:
        accepted = await api.request_calendar()
        final = await api.wait_until_finished(accepted["task_url"])
        code, _, body, _ = await api.result(final["result_url"])

        assert final["task_status"] == "SUCCESS"
        assert code == 200
        assert vevents(body) == []

    async def test_two_concurrent_jobs_both_finish_with_their_own_calendar(
        self, api: ApiClient
    ) -> None:
        await api.create_todo(title="Shared")
        first, second = await asyncio.gather(api.request_calendar(), api.request_calendar())
        finals = await asyncio.gather(
            api.wait_until_finished(first["task_url"]), api.wait_until_finished(second["task_url"])
        )

        assert first["task_id"] != second["task_id"]
        assert [final["task_status"] for final in finals] == ["SUCCESS", "SUCCESS"]
        assert finals[0]["result_url"] != finals[1]["result_url"]


class TestTaskIds:
    async def test_an_id_that_was_never_issued_is_not_found(
        self, api: ApiClient, stack: Stack
    ) -> None:
        for task_id in (str(uuid4()), "not-a-uuid"):
            status, body = await api.status(f"{stack.base_url}/api/v1/todos/ical/{task_id}/status")
            assert (status, body) == (404, {"error": "Task not found"})
        code, _, body_bytes, _ = await api.result(
            f"{stack.base_url}/api/v1/todos/ical/{uuid4()}/result"
        )
        assert (code, json.loads(body_bytes)) == (404, {"error": "Task not found"})

    async def test_an_issued_id_the_tracker_has_not_seen_is_pending_and_unfinished(
        self, api: ApiClient, stack: Stack
    ) -> None:
        task_id = issue_task_id(stack.settings.task_secret, ANONYMOUS_TENANT)
        base = f"{stack.base_url}/api/v1/todos/ical/{task_id}"

        status, body = await api.status(f"{base}/status")
        code, _, result, _ = await api.result(f"{base}/result")

        assert status == 200
        assert body["task_status"] == "PENDING"
        assert (code, json.loads(result)) == (404, {"error": "Task not finished"})
