"""The hand-wired stack of the replay tests (tests/support/replay_stack.py) works."""

from __future__ import annotations

from tests.support.replay_stack import Stack


async def test_a_calendar_request_goes_through_every_service(replay_stack: Stack) -> None:
    await replay_stack.create_todos(2)
    [task_id] = await replay_stack.request_calendars(1)
    await replay_stack.settle()

    job = (await replay_stack.jobs())[str(task_id)]

    assert job["status"] == "SUCCESS"
    assert job["todo_count"] == 2
