"""`rebuild` keeps a projection's indexes under their names, rebuild after rebuild."""

from __future__ import annotations

from sqlalchemy import inspect

from services.job_tracker.tables import jobs
from tests.support.replay_stack import Stack


async def index_names(stack: Stack) -> set[str]:
    async with stack.stores["job_tracker"].engine.connect() as conn:
        found = await conn.run_sync(lambda sync: inspect(sync).get_indexes(jobs.name))
    return {str(index["name"]) for index in found}


async def test_the_jobs_indexes_keep_their_names_through_two_rebuilds(
    replay_stack: Stack,
) -> None:
    await replay_stack.create_todos(1)
    await replay_stack.request_calendars(2)
    await replay_stack.settle()
    expected = await replay_stack.jobs()

    first = await replay_stack.replay("rebuild", "--service", "job_tracker")
    second = await replay_stack.replay("rebuild", "--service", "job_tracker")

    assert (first.status, second.status) == (0, 0), first.err + second.err
    assert await index_names(replay_stack) == {str(index.name) for index in jobs.indexes}
    assert await replay_stack.jobs() == expected
