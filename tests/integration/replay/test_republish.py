"""`republish`: stored events go out again with their ids; consumers converge, nothing doubles."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import pytest

from shared.contracts.streams import calendar_stream_id
from shared.contracts.topology import CALENDAR_WORKER, JOB_TRACKER, Names
from shared.messaging.publisher import Outgoing, Refused, SnsPublisher
from tests.support.replay_stack import Stack


async def purge(stack: Stack, queue: str) -> None:
    url = (await stack.sqs.get_queue_url(QueueName=queue))["QueueUrl"]
    await stack.sqs.purge_queue(QueueUrl=url)


async def tracker_missed_the_requests(stack: Stack, count: int) -> None:
    """The worker renders every job, but the tracker's queue lost the requests."""
    await stack.create_todos(3)
    await stack.request_calendars(count)
    await stack.publish_todo_events()
    await purge(stack, Names(stack.base.resource_prefix).queue(JOB_TRACKER))
    await stack.run_worker()
    await stack.run_tracker()


class TestRepublish:
    async def test_consumers_converge_on_the_missed_events_with_no_duplicate_effect(
        self, replay_stack: Stack
    ) -> None:
        await tracker_missed_the_requests(replay_stack, count=3)
        before = await replay_stack.jobs()
        worker_events = await replay_stack.event_count("calendar_worker")

        ran = await replay_stack.replay(
            "republish", "--service", "todo_api", "--type", "CalendarRequested"
        )
        await replay_stack.settle()
        after = await replay_stack.jobs()
        # the whole log again: every consumer has seen all of it
        again = await replay_stack.replay("republish", "--service", "todo_api")
        await replay_stack.settle()

        assert ran.status == 0, ran.err
        assert "republished 3 events" in ran.out
        assert again.status == 0, again.err
        assert all(job["todo_count"] is None for job in before.values())
        assert all(job["todo_count"] == 3 for job in after.values())
        assert all(job["status"] == "SUCCESS" for job in after.values())
        assert await replay_stack.jobs() == after
        # the worker ignored the repeated requests: no second render of any job
        assert await replay_stack.event_count("calendar_worker") == worker_events
        # requested and ready per job (a small calendar records no start)
        assert await replay_stack.event_count("job_tracker") == 3 * 2

    async def test_requests_the_worker_missed_are_made_whole_from_the_todo_streams(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(3)
        await replay_stack.request_calendars(2)
        await replay_stack.publish_todo_events()
        await purge(replay_stack, Names(replay_stack.base.resource_prefix).queue(CALENDAR_WORKER))

        ran = await replay_stack.replay(
            "republish", "--service", "todo_api", "--type", "CalendarRequested"
        )
        await replay_stack.settle()

        # todo_api's log keeps the requests by reference: the worker got the todos all the same
        assert ran.status == 0, ran.err
        jobs = await replay_stack.jobs()
        assert [(job["status"], job["todo_count"]) for job in jobs.values()] == [("SUCCESS", 3)] * 2

    async def test_the_tracker_s_requests_without_their_snapshot_are_refused_before_sending(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(2)
        await replay_stack.request_calendars(1)
        await replay_stack.settle()
        names = Names(replay_stack.base.resource_prefix)

        ran = await replay_stack.replay("republish", "--service", "job_tracker")

        assert ran.status == 1
        assert "kept without its snapshot" in ran.err
        assert "stopped before sending anything" in ran.out + ran.err
        assert await replay_stack.depth(names.queue(CALENDAR_WORKER)) == 0
        assert await replay_stack.depth(names.queue(JOB_TRACKER)) == 0

    async def test_a_dry_run_lists_the_selection_and_sends_nothing(
        self, replay_stack: Stack
    ) -> None:
        await replay_stack.create_todos(2)
        [task_id, _other] = await replay_stack.request_calendars(2)
        await replay_stack.settle()
        names = Names(replay_stack.base.resource_prefix)

        ran = await replay_stack.replay(
            "republish", "--service", "todo_api", "--task", str(task_id), "--dry-run"
        )

        assert ran.status == 0, ran.err
        assert calendar_stream_id(task_id) in ran.out
        assert "dry run: 1 events would be republished" in ran.out
        assert await replay_stack.depth(names.queue(CALENDAR_WORKER)) == 0
        assert await replay_stack.depth(names.queue(JOB_TRACKER)) == 0

    async def test_an_interrupted_run_says_where_to_resume_and_resuming_sends_the_rest(
        self, replay_stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sent: list[list[int]] = []
        real_publish = SnsPublisher.publish

        async def fails_on_the_third_batch(
            self: SnsPublisher, messages: Sequence[Outgoing]
        ) -> Refused:
            if len(sent) == 2:
                raise ConnectionError("network went away")
            sent.append([message.position for message in messages])
            return await real_publish(self, messages)

        await replay_stack.create_todos(6)
        monkeypatch.setattr(SnsPublisher, "publish", fails_on_the_third_batch)
        # at two events a second, batches of two leave a second apart
        broken = await replay_stack.replay("republish", "--service", "todo_api", "--rate", "2")
        found = re.search(r"resume with --from-position (\d+)", broken.out)
        assert found, broken.out
        monkeypatch.setattr(SnsPublisher, "publish", real_publish)
        resumed = await replay_stack.replay(
            "republish", "--service", "todo_api", "--from-position", found.group(1)
        )

        assert broken.status == 1
        assert "network went away" in broken.err
        assert len(broken.err.strip().splitlines()) == 1
        assert sent == [[1, 2], [3, 4]]
        assert found.group(1) == "5"
        assert resumed.status == 0, resumed.err
        assert "republished 2 events" in resumed.out

    async def test_a_rate_limit_spaces_the_events_out(self, replay_stack: Stack) -> None:
        await replay_stack.create_todos(6)
        started = time.monotonic()
        ran = await replay_stack.replay("republish", "--service", "todo_api", "--rate", "4")
        elapsed_s = time.monotonic() - started

        assert ran.status == 0, ran.err
        # six events at four a second: the last two may not leave before one second
        assert elapsed_s >= 1.0
