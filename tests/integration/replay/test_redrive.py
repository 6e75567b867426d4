"""`redrive`: dead letters go back to their queue and are handled once the cause is fixed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import pytest

from scripts.replay import redrive as redrive_module
from shared.aws.clients import aws_client
from shared.contracts.envelope import Envelope
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.consumer import Delivery
from shared.settings import Settings
from tests.support.polling import eventually
from tests.support.replay_stack import Stack

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

TYPE = {"type": {"DataType": "String", "StringValue": "CalendarReady"}}


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
        # each job: requested, ready (a small calendar records no start)
        return await stack.depth(dlq) == 2 * 2

    await eventually(all_dead, timeout_s=60, interval_s=0.2)
    return task_ids


async def dead_letter_large_messages(stack: Stack, *, count: int, size: int) -> set[str]:
    """Put `count` messages of `size` bytes in the tracker's DLQ; return their bodies."""
    dlq = await queue_url(stack, Names(stack.base.resource_prefix).dlq(JOB_TRACKER))
    bodies = {f"{index:02d}".ljust(size, "x") for index in range(count)}
    for body in sorted(bodies):
        await stack.sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=TYPE)
    return bodies


async def received_bodies(stack: Stack, queue: str) -> set[str]:
    url = await queue_url(stack, queue)
    found: set[str] = set()
    while messages := (
        await stack.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        )
    ).get("Messages", []):
        found.update(message["Body"] for message in messages)
    return found


async def queue_url(stack: Stack, name: str) -> str:
    return str((await stack.sqs.get_queue_url(QueueName=name))["QueueUrl"])


class RefusingSqs:
    """An SQS client whose SendMessageBatch refuses, entry by entry, bodies with a prefix."""

    def __init__(self, sqs: Any, prefix: str) -> None:
        self._sqs, self._prefix = sqs, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    async def send_message_batch(self, *, QueueUrl: str, Entries: list[Any]) -> Any:
        refused = [entry for entry in Entries if entry["MessageBody"].startswith(self._prefix)]
        kept = [entry for entry in Entries if entry not in refused]
        sent = await self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {}
        failed = [{"Id": entry["Id"], "Code": "InvalidParameterValue"} for entry in refused]
        return {"Successful": sent.get("Successful", []), "Failed": failed}


def refusing_sends(prefix: str) -> Callable[[Settings, str], Any]:
    @contextlib.asynccontextmanager
    async def client(settings: Settings, service: str) -> AsyncIterator[Any]:
        async with aws_client(settings, service) as real:
            yield RefusingSqs(real, prefix)

    return client


class TestRedrive:
    async def test_dead_letters_return_and_are_processed_once_the_bug_is_fixed(
        self, replay_stack: Stack
    ) -> None:
        names = Names(replay_stack.base.resource_prefix)
        task_ids = await dead_letter_the_trackers_events(replay_stack)
        nothing_recorded = await replay_stack.jobs()

        dry = await replay_stack.replay("redrive", "--service", "job_tracker", "--dry-run")
        depth_after_dry_run = await replay_stack.depth(names.dlq(JOB_TRACKER))
        ran = await replay_stack.replay("redrive", "--service", "job_tracker")
        await replay_stack.run_tracker()

        assert dry.status == 0, dry.err
        assert "dry run: 4 messages" in dry.out
        assert all(str(task_id) in dry.out for task_id in task_ids)
        assert "CalendarReady" in dry.out
        assert depth_after_dry_run == 4
        assert ran.status == 0, ran.err
        assert "moved 4 messages" in ran.out
        assert await replay_stack.depth(names.dlq(JOB_TRACKER)) == 0
        assert nothing_recorded == {}
        jobs = await replay_stack.jobs()
        assert set(jobs) == {str(task_id) for task_id in task_ids}
        assert all(job["status"] == "SUCCESS" for job in jobs.values())
        assert all(job["todo_count"] == 1 for job in jobs.values())

    async def test_batches_are_used_where_the_endpoint_has_no_move_task(
        self, replay_stack: Stack
    ) -> None:
        names = Names(replay_stack.base.resource_prefix)
        dlq = (await replay_stack.sqs.get_queue_url(QueueName=names.dlq(JOB_TRACKER)))["QueueUrl"]
        await replay_stack.sqs.send_message(QueueUrl=dlq, MessageBody="not an event")

        dry = await replay_stack.replay("redrive", "--service", "job_tracker", "--dry-run")
        ran = await replay_stack.replay("redrive", "--service", "job_tracker", "--method", "auto")

        assert "unreadable" in dry.out
        assert ran.status == 0, ran.err
        assert "moved 1 messages" in ran.out
        assert await replay_stack.depth(names.queue(JOB_TRACKER)) == 1

    async def test_dead_letters_adding_up_past_a_batch_limit_all_return(
        self, replay_stack: Stack
    ) -> None:
        # 12 x 120 KiB: far past 256 KiB, and ten in one batch past the 1 MiB SQS itself refuses
        names = Names(replay_stack.base.resource_prefix)
        bodies = await dead_letter_large_messages(replay_stack, count=12, size=120 * 1024)

        ran = await replay_stack.replay(
            "redrive", "--service", "job_tracker", "--method", "batches"
        )

        assert ran.status == 0, ran.err
        assert "moved 12 messages" in ran.out
        assert await replay_stack.depth(names.dlq(JOB_TRACKER)) == 0
        assert await received_bodies(replay_stack, names.queue(JOB_TRACKER)) == bodies

    async def test_messages_sqs_refuses_stay_in_the_dlq_and_the_others_still_move(
        self, replay_stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        names = Names(replay_stack.base.resource_prefix)
        dlq = await queue_url(replay_stack, names.dlq(JOB_TRACKER))
        bodies = [f"refuse {index}" if index in (1, 10) else f"ok {index}" for index in range(12)]
        for body in bodies:
            await replay_stack.sqs.send_message(QueueUrl=dlq, MessageBody=body)
        monkeypatch.setattr(redrive_module, "transport_client", refusing_sends(prefix="refuse"))

        ran = await replay_stack.replay(
            "redrive", "--service", "job_tracker", "--method", "batches"
        )

        assert ran.status == 1
        assert ran.err.strip() == (
            "redrive failed: moved 10 messages; SQS refused 2 (InvalidParameterValue), "
            "which stay in the DLQ for a later redrive"
        )
        moved = await received_bodies(replay_stack, names.queue(JOB_TRACKER))
        assert moved == {body for body in bodies if body.startswith("ok")}
        assert await replay_stack.depth(names.dlq(JOB_TRACKER)) == 2

    async def test_a_service_without_a_queue_is_one_clear_line(self, replay_stack: Stack) -> None:
        ran = await replay_stack.replay("redrive", "--service", "todo_api")

        assert ran.status == 1
        assert ran.err.strip() == (
            "redrive failed: todo_api consumes no queue (these do: calendar_worker, job_tracker)"
        )
