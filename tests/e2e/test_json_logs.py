"""LOG_FORMAT=json: each service process writes one JSON object a line, and the lines of one
calendar job, in every service, are found by its task id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_client import ApiClient
from tests.support.polling import eventually
from tests.support.processes import Stack

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

SERVICES = {"todo_api", "calendar_worker", "job_tracker"}


@pytest.fixture
def stack_env(stack_env: dict[str, str]) -> dict[str, str]:
    """The stack's environment, logging JSON at DEBUG, where consumers say what they handle."""
    return {**stack_env, "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"}


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a service's log, each parsed (a line that is not JSON fails)."""
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines()]


async def test_every_line_is_json_and_a_job_s_lines_are_found_by_its_task_id(
    stack: Stack, api: ApiClient
) -> None:
    await api.create_todo(title="Logged", deadline_at="2024-04-17T14:00:00")
    accepted = await api.request_calendar()
    task_id = accepted["task_id"]
    assert (await api.wait_until_finished(accepted["task_url"]))["task_status"] == "SUCCESS"

    def job_lines() -> list[dict[str, Any]]:
        lines = [line for s in stack.services for line in read_lines(s.log_path)]
        return [line for line in lines if line.get("task_id") == task_id]

    def handled(lines: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {
            (line["service"], line["event_type"])
            for line in lines
            if line["message"].endswith(f"handled {line.get('event_type')}")
        }

    expected = {
        ("calendar_worker", "CalendarRequested"),
        ("job_tracker", "CalendarRequested"),
        ("job_tracker", "CalendarReady"),
    }

    async def all_handled() -> bool:
        return expected <= handled(job_lines())

    await eventually(all_handled, timeout_s=10)
    lines = job_lines()
    assert {line["service"] for line in lines} == SERVICES
    assert all(line["correlation_id"] == task_id for line in lines)
    about_messages = [line for line in lines if "event_id" in line]
    assert about_messages
    assert all(line["message_id"] and line["trace_id"] for line in about_messages)
    requests = [line for line in lines if line["service"] == "todo_api"]
    assert any("POST /api/v1/todos/ical" in line["message"] for line in requests)
    # and the polls of its status, at todo_api and the tracker it forwards them to
    polls = [line for line in lines if f"/ical/{task_id}/status" in line["message"]]
    assert {line["service"] for line in polls} == {"todo_api", "job_tracker"}
    assert all(line["request_id"] for line in requests)
    # one trace from the request to the tracker (each status poll is a request of its own)
    made = [line for line in lines if "event_id" in line or "POST " in line["message"]]
    assert len({line["trace_id"] for line in made}) == 1
