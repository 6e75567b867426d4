"""`redrive`: dead letters go back to their queue and are handled once the cause is fixed."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from shared.consumer import Delivery
from shared.envelope import Envelope
from shared.settings import Settings
from shared.topology import JOB_TRACKER, Names
from tests.integration.test_replay_stack import Stack, running_stack, stack_settings
from tests.polling import eventually


async def dead_letter_the_trackers_events(stack: Stack) -> list[UUID]:
    """A tracker release with a bug fails every event until the redrive policy gives up."""

    async def buggy(_envelope: Envelope, _delivery: Delivery) -> None:
        raise RuntimeError("bug in this release")

    await stack.create_todos(1)
    task_ids = await stack.request_calendars(2)
    await stack.publish_todo_events()
    await stack.run_worker()
    dlq = Names(stack.base.resource_prefix).dlq(JOB_TRACKER)

    async def all_dead() -> bool:
        await stack.tracker(buggy).run_until_idle(wait_time_s=1)
        # each job: requested, started, ready
        return await stack.depth(dlq) == 2 * 3

    await eventually(all_dead, timeout_s=60, interval_s=0.2)
    return task_ids


class TestRedrive:
    async def test_dead_letters_return_and_are_processed_once_the_bug_is_fixed(
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            names = Names(stack.base.resource_prefix)
            task_ids = await dead_letter_the_trackers_events(stack)
            nothing_recorded = await stack.jobs()

            dry = await stack.replay("redrive", "--service", "job_tracker", "--dry-run")
            depth_after_dry_run = await stack.depth(names.dlq(JOB_TRACKER))
            ran = await stack.replay("redrive", "--service", "job_tracker")
            await stack.run_tracker()

            assert dry.status == 0, dry.err
            assert "dry run: 6 messages" in dry.out
            assert all(str(task_id) in dry.out for task_id in task_ids)
            assert "CalendarReady" in dry.out
            assert depth_after_dry_run == 6
            assert ran.status == 0, ran.err
            assert "moved 6 messages" in ran.out
            assert await stack.depth(names.dlq(JOB_TRACKER)) == 0
            assert nothing_recorded == {}
            jobs = await stack.jobs()
            assert set(jobs) == {str(task_id) for task_id in task_ids}
            assert all(job["status"] == "SUCCESS" for job in jobs.values())
            assert all(job["todo_count"] == 1 for job in jobs.values())

    async def test_batches_are_used_where_the_endpoint_has_no_move_task(
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            names = Names(stack.base.resource_prefix)
            dlq = (await stack.sqs.get_queue_url(QueueName=names.dlq(JOB_TRACKER)))["QueueUrl"]
            await stack.sqs.send_message(QueueUrl=dlq, MessageBody="not an event")

            dry = await stack.replay("redrive", "--service", "job_tracker", "--dry-run")
            ran = await stack.replay("redrive", "--service", "job_tracker", "--method", "auto")

            assert "unreadable" in dry.out
            assert ran.status == 0, ran.err
            assert "moved 1 messages" in ran.out
            assert await stack.depth(names.queue(JOB_TRACKER)) == 1

    async def test_a_service_without_a_queue_is_one_clear_line(
        self, database: Settings, aws_settings: Settings, tmp_path: Path
    ) -> None:
        async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
            ran = await stack.replay("redrive", "--service", "todo_api")

        assert ran.status == 1
        assert ran.err.strip() == (
            "redrive failed: todo_api consumes no queue (these do: calendar_worker, job_tracker)"
        )
