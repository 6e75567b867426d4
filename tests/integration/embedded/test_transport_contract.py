"""One contract, two transports: the embedded SNS/SQS and moto (LocalStack under
TEST_AWS_ENDPOINT_URL) must behave alike for every call this code makes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from embedded.transport import messages, queues, sqs_client
from embedded.transport.clients import provision_embedded, transport_path
from embedded.transport.wakeups import Wakeups
from scripts.replay.redrive import Method, redrive
from scripts.replay.status import service_status
from scripts.replay.targets import SERVICES
from shared.contracts.topology import (
    CALENDAR_WORKER,
    DLQ_RETENTION_S,
    JOB_TRACKER,
    QUEUE_RETENTION_S,
    QUEUES,
    Names,
    QueueSpec,
)
from shared.messaging.provisioning import bootstrap
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.polling import eventually

# its AWS endpoint is the fixture's: `make test-localstack` runs it against LocalStack too
pytestmark = pytest.mark.localstack

MAX_RECEIVES = 2


def typed(event_type: str) -> dict[str, Any]:
    return {"type": {"DataType": "String", "StringValue": event_type}}


@dataclass
class Bus:
    settings: Settings
    sns: Any
    sqs: Any
    topic_arn: str

    @property
    def is_embedded(self) -> bool:
        return self.settings.transport == "embedded"

    async def url(self, name: str) -> str:
        return str((await self.sqs.get_queue_url(QueueName=name))["QueueUrl"])

    async def queue(self, spec: QueueSpec) -> str:
        return await self.url(Names(self.settings.resource_prefix).queue(spec))

    async def dlq(self, spec: QueueSpec) -> str:
        return await self.url(Names(self.settings.resource_prefix).dlq(spec))

    async def publish(self, *event_types: str) -> None:
        """Publish, and return once every queue whose filter matches holds its copies."""
        before = {spec.name: sum(await self.depth(await self.queue(spec))) for spec in QUEUES}
        entries = [
            {"Id": str(n), "Message": f'{{"n": {n}}}', "MessageAttributes": typed(event_type)}
            for n, event_type in enumerate(event_types)
        ]
        await self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        # SNS delivers to the queues after it answers (AWS, LocalStack); moto and the embedded
        # transport before: either way the tests start from messages that have arrived
        for spec in QUEUES:
            expected = before[spec.name] + sum(kind in spec.event_types for kind in event_types)
            url = await self.queue(spec)

            async def arrived(url: str = url, expected: int = expected) -> bool:
                return sum(await self.depth(url)) >= expected

            await eventually(arrived, timeout_s=10, interval_s=0.02)

    async def receive(self, url: str, *, hide_s: int = 30, wait_s: int = 0) -> list[Any]:
        response = await self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=hide_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    async def attribute(self, url: str, name: str) -> str:
        found = await self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])
        return str(found["Attributes"][name])

    async def depth(self, url: str) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = await self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
        visible, hidden = (int(found["Attributes"][name]) for name in names)
        return visible, hidden


def transport_settings(kind: str, moto_url: str, var_dir: Path) -> Settings:
    prefix = f"c{uuid.uuid4().hex[:8]}-"
    base = Settings(resource_prefix=prefix, sqs_max_receive_count=MAX_RECEIVES, var_dir=var_dir)
    if kind == "embedded":
        return base.model_copy(update={"transport": "embedded"})
    return base.model_copy(update={"aws_endpoint_url": moto_url})


embedded_only = pytest.mark.parametrize("bus", ["embedded"], indirect=True)
# SQS refuses a handle whose visibility timeout ran out with MessageNotInflight; moto accepts
# any handle a message ever had and changes its visibility, and so does LocalStack as
# `make test-localstack` runs it (seen there: the change was accepted)
NOT_IN_FLIGHT_ENFORCED = ["embedded"]
# the SNS batch size is enforced by the embedded transport and LocalStack, not by moto
SNS_SIZE_ENFORCED = ["embedded"] + (["moto"] if os.environ.get("TEST_AWS_ENDPOINT_URL") else [])


@pytest.fixture(params=["embedded", "moto"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    if request.param == "moto":
        settings = transport_settings("moto", request.getfixturevalue("moto_url"), tmp_path)
        await bootstrap(settings)
    else:
        settings = transport_settings("embedded", "", tmp_path)
        await provision_embedded(settings)
    async with (
        transport_client(settings, "sns") as sns,
        transport_client(settings, "sqs") as sqs,
    ):
        yield Bus(settings, sns, sqs, await topic_arn(sns, Names(settings.resource_prefix).topic))


async def topic_arn(sns: Any, name: str) -> str:
    async for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].endswith(":" + name):
                return str(topic["TopicArn"])
    raise LookupError(name)


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


class TestFanOut:
    async def test_each_queue_gets_exactly_the_types_its_filter_names(self, bus: Bus) -> None:
        await bus.publish("CalendarRequested", "CalendarReady", "TodoCreated")

        worker = await bus.receive(await bus.queue(CALENDAR_WORKER))
        tracker = await bus.receive(await bus.queue(JOB_TRACKER))

        assert [m["MessageAttributes"]["type"]["StringValue"] for m in worker] == [
            "CalendarRequested"
        ]
        assert sorted(m["MessageAttributes"]["type"]["StringValue"] for m in tracker) == [
            "CalendarReady",
            "CalendarRequested",
        ]
        # raw delivery: the body is the message as published
        assert worker[0]["Body"] == '{"n": 0}'
        assert worker[0]["Attributes"]["ApproximateReceiveCount"] == "1"

    async def test_an_unknown_queue_is_the_error_sqs_answers(self, bus: Bus) -> None:
        with pytest.raises(ClientError) as raised:
            await bus.sqs.get_queue_url(QueueName="no-such-queue-" + uuid.uuid4().hex[:6])
        assert "NonExistentQueue" in error_code(raised)


class TestVisibility:
    # the checks while hidden follow the receive at once: a stalled host rarely outlasts this
    HIDE_S = 5

    async def test_a_received_message_is_hidden_then_comes_back_counted(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")

        first = await bus.receive(url, hide_s=self.HIDE_S)
        hidden = await bus.receive(url)
        depth_while_hidden = await bus.depth(url)
        # returns once it is back (LocalStack returns expired messages on a timer of its own)
        again = await bus.receive(url, wait_s=20)

        assert len(first) == 1
        assert hidden == []
        assert depth_while_hidden == (0, 1)
        assert [m["MessageId"] for m in again] == [first[0]["MessageId"]]
        assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
        assert again[0]["ReceiptHandle"] != first[0]["ReceiptHandle"]

    async def test_extending_the_timeout_keeps_the_message_hidden(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")
        [message] = await bus.receive(url, hide_s=self.HIDE_S)

        await bus.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=600
        )

        # waits past the first timeout; the message coming back would end it early
        assert await bus.receive(url, wait_s=self.HIDE_S + 2) == []

    async def test_a_zero_timeout_makes_it_visible_at_once(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")
        [message] = await bus.receive(url)

        answer = await bus.sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "a", "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
            ],
        )

        assert [entry["Id"] for entry in answer["Successful"]] == ["a"]
        assert len(await bus.receive(url)) == 1


class TestDeadLetters:
    async def test_a_message_received_more_than_max_receive_count_goes_to_the_dlq(
        self, bus: Bus
    ) -> None:
        url, dlq = await bus.queue(CALENDAR_WORKER), await bus.dlq(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")

        counts = [len(await bus.receive(url, hide_s=0)) for _ in range(MAX_RECEIVES + 1)]
        dead = await bus.receive(dlq)

        assert counts == [1] * MAX_RECEIVES + [0]
        assert len(dead) == 1
        assert dead[0]["Body"] == '{"n": 0}'

    async def test_redrive_moves_dead_letters_back_and_status_counts_them(self, bus: Bus) -> None:
        url = await bus.queue(JOB_TRACKER)
        await bus.publish("CalendarRequested", "CalendarReady")
        for _ in range(MAX_RECEIVES + 1):
            await bus.receive(url, hide_s=0)
        before = await service_status(bus.settings, SERVICES["job_tracker"])

        moved = await redrive(bus.settings, JOB_TRACKER, Console(), method=Method.BATCHES)
        after = await service_status(bus.settings, SERVICES["job_tracker"])

        assert before.dlq == "2 waiting, 0 in flight"
        assert moved == 2
        assert after.queue == "2 waiting, 0 in flight"
        assert after.dlq == "0 waiting, 0 in flight"


class TestReceiptHandles:
    async def test_a_stale_handle_does_not_delete_a_message_received_again(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")
        [old] = await bus.receive(url, hide_s=0)
        [current] = await bus.receive(url, hide_s=0)

        await bus.sqs.delete_message(QueueUrl=url, ReceiptHandle=old["ReceiptHandle"])

        if bus.is_embedded:
            # AWS: "the request succeeds, but the message will not be deleted"; moto deletes it
            assert await bus.depth(url) == (1, 0)
        await bus.sqs.delete_message(QueueUrl=url, ReceiptHandle=current["ReceiptHandle"])
        assert await bus.depth(url) == (0, 0)

    async def test_changing_the_visibility_of_a_deleted_message_is_refused(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")
        [message] = await bus.receive(url)
        await bus.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

        with pytest.raises(ClientError):
            await bus.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=10
            )

    @pytest.mark.parametrize("bus", NOT_IN_FLIGHT_ENFORCED, indirect=True)
    async def test_changing_the_visibility_after_it_ran_out_is_refused_as_not_in_flight(
        self, bus: Bus
    ) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")
        [message] = await bus.receive(url, hide_s=1)

        async def visible_again() -> bool:
            return await bus.depth(url) == (1, 0)

        await eventually(visible_again, timeout_s=10, interval_s=0.1)
        with pytest.raises(ClientError) as raised:
            await bus.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=30
            )

        # the code botocore reports for SQS's MessageNotInflight (x-amzn-query-error)
        assert error_code(raised) == "AWS.SimpleQueueService.MessageNotInflight"
        assert len(await bus.receive(url)) == 1

    # moto changes the visibility of any handle a message ever had (see NOT_IN_FLIGHT_ENFORCED);
    # which code LocalStack gives a batch entry is not held here
    @embedded_only
    async def test_a_batch_change_says_which_handle_is_not_in_flight(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested", "CalendarRequested")
        lapsed, deleted = await bus.receive(url, hide_s=0)
        await bus.sqs.delete_message(QueueUrl=url, ReceiptHandle=deleted["ReceiptHandle"])

        answer = await bus.sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "lapsed", "ReceiptHandle": lapsed["ReceiptHandle"], "VisibilityTimeout": 9},
                {"Id": "gone", "ReceiptHandle": deleted["ReceiptHandle"], "VisibilityTimeout": 9},
            ],
        )

        assert answer["Successful"] == []
        assert {entry["Id"]: entry["Code"] for entry in answer["Failed"]} == {
            "lapsed": "AWS.SimpleQueueService.MessageNotInflight",
            "gone": "ReceiptHandleIsInvalid",
        }


@contextlib.contextmanager
def transport_file(settings: Settings) -> Iterator[sqlite3.Connection]:
    """The embedded transport's file, opened beside the clients as another process would."""
    conn = sqlite3.connect(transport_path(settings), isolation_level=None, timeout=5)
    try:
        yield conn
    finally:
        conn.close()


def age_messages(settings: Settings, queue: str, seconds: int) -> None:
    """Let `seconds` pass for the queue's messages at once: their times move back."""
    with transport_file(settings) as conn:
        age_rows(conn, queue, seconds)


def age_rows(conn: sqlite3.Connection, queue: str, seconds: int) -> None:
    conn.execute(
        "UPDATE messages SET sent_at_ms = sent_at_ms - :ms, visible_at_ms = visible_at_ms - :ms"
        " WHERE queue = :queue",
        {"ms": seconds * 1000, "queue": queue},
    )


def rows_of(settings: Settings, queue: str) -> int:
    with transport_file(settings) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE queue = ?", (queue,)
        ).fetchone()
    return int(count)


DAY_S = 24 * 3600


class TestRetention:
    async def test_queues_keep_messages_as_long_as_the_topology_says(self, bus: Bus) -> None:
        queue = await bus.attribute(await bus.queue(CALENDAR_WORKER), "MessageRetentionPeriod")
        dlq = await bus.attribute(await bus.dlq(CALENDAR_WORKER), "MessageRetentionPeriod")

        assert (queue, dlq) == (str(QUEUE_RETENTION_S), str(DLQ_RETENTION_S))

    async def test_the_retention_period_is_set_as_sqs_sets_it(self, bus: Bus) -> None:
        url = await bus.queue(JOB_TRACKER)

        await bus.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"MessageRetentionPeriod": "60"}
        )

        assert await bus.attribute(url, "MessageRetentionPeriod") == "60"

    # moto and LocalStack store any value (LocalStack says so in its docs); SQS takes 60 seconds
    # to 14 days
    @embedded_only
    @pytest.mark.parametrize("seconds", ["59", str(14 * DAY_S + 1), "four days"])
    async def test_a_retention_sqs_would_refuse_is_refused(self, bus: Bus, seconds: str) -> None:
        url = await bus.queue(JOB_TRACKER)

        with pytest.raises(ClientError) as raised:
            await bus.sqs.set_queue_attributes(
                QueueUrl=url, Attributes={"MessageRetentionPeriod": seconds}
            )

        assert error_code(raised) == "InvalidAttributeValue"
        assert await bus.attribute(url, "MessageRetentionPeriod") == str(QUEUE_RETENTION_S)

    async def test_a_dead_letter_keeps_the_time_it_was_first_sent(self, bus: Bus) -> None:
        url, dlq = await bus.queue(CALENDAR_WORKER), await bus.dlq(CALENDAR_WORKER)
        await bus.publish("CalendarRequested")

        sent = [await self.sent_timestamps(bus, url) for _ in range(MAX_RECEIVES + 1)]
        dead = await self.sent_timestamps(bus, dlq)

        assert dead == sent[0]
        assert len(dead) == 1

    @staticmethod
    async def sent_timestamps(bus: Bus, url: str) -> list[str]:
        response = await bus.sqs.receive_message(
            QueueUrl=url, VisibilityTimeout=0, MessageSystemAttributeNames=["SentTimestamp"]
        )
        return [m["Attributes"]["SentTimestamp"] for m in response.get("Messages", [])]

    # SQS's shortest retention is a minute, and neither emulator drops a message as SQS does:
    # moto's receive marks an expired message in flight and returns nothing, so it comes back,
    # counts towards maxReceiveCount and is dead-lettered; LocalStack keeps every message unless
    # SQS_ENABLE_MESSAGE_RETENTION_PERIOD is set. The embedded transport's file lets time pass.
    @embedded_only
    async def test_a_message_past_the_retention_period_is_gone(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        await bus.publish("CalendarRequested", "CalendarRequested")
        names = Names(bus.settings.resource_prefix)

        age_messages(bus.settings, names.queue(CALENDAR_WORKER), QUEUE_RETENTION_S)

        assert await bus.depth(url) == (0, 0)
        assert await bus.receive(url) == []

    @embedded_only
    async def test_a_dead_letter_expires_by_its_first_send_not_its_move(self, bus: Bus) -> None:
        url, dlq = await bus.queue(CALENDAR_WORKER), await bus.dlq(CALENDAR_WORKER)
        names = Names(bus.settings.resource_prefix)
        await bus.publish("CalendarRequested")
        age_messages(bus.settings, names.queue(CALENDAR_WORKER), 3 * DAY_S)
        for _ in range(MAX_RECEIVES + 1):
            await bus.receive(url, hide_s=0)
        depth_after_the_move = await bus.depth(dlq)

        # 11 days after the move: 14 in all, the DLQ's retention, counted from the first send
        age_messages(bus.settings, names.dlq(CALENDAR_WORKER), 11 * DAY_S)

        assert depth_after_the_move == (1, 0)
        assert await bus.depth(dlq) == (0, 0)
        assert await bus.receive(dlq) == []

    @embedded_only
    async def test_a_receive_sweeps_expired_rows_out_of_every_queue(self, bus: Bus) -> None:
        names = Names(bus.settings.resource_prefix)
        dlq = await bus.dlq(JOB_TRACKER)
        entries = [{"Id": str(n), "MessageBody": f"letter {n}"} for n in range(3)]
        await bus.sqs.send_message_batch(QueueUrl=dlq, Entries=entries)
        age_messages(bus.settings, names.dlq(JOB_TRACKER), DLQ_RETENTION_S - 60)
        await bus.sqs.send_message_batch(QueueUrl=dlq, Entries=entries[:1])
        age_messages(bus.settings, names.dlq(JOB_TRACKER), 60)

        # nobody receives from a DLQ: a receive from any queue sweeps them all
        await bus.receive(await bus.queue(CALENDAR_WORKER))

        assert rows_of(bus.settings, names.dlq(JOB_TRACKER)) == 1
        assert await bus.depth(dlq) == (1, 0)


class TestBatchLimits:
    async def test_more_than_ten_entries_are_refused(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        entries = [{"Id": str(n), "MessageBody": "x"} for n in range(11)]

        with pytest.raises(ClientError) as sqs_refused:
            await bus.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        with pytest.raises(ClientError) as sns_refused:
            await bus.publish(*["CalendarRequested"] * 11)

        assert "TooManyEntriesInBatchRequest" in error_code(sqs_refused)
        assert "TooManyEntriesInBatchRequest" in error_code(sns_refused)

    # SQS (and moto, and LocalStack) take 1 MiB since 2025; the embedded transport holds SQS to
    # SNS's 256 KiB, the limit shared/messaging/batching.py cuts every batch to
    @embedded_only
    async def test_sqs_refuses_a_batch_over_256_kib(self, bus: Bus) -> None:
        url = await bus.queue(CALENDAR_WORKER)
        entries = [{"Id": str(n), "MessageBody": "x" * 100_000} for n in range(3)]

        with pytest.raises(ClientError) as refused:
            await bus.sqs.send_message_batch(QueueUrl=url, Entries=entries)

        assert "BatchRequestTooLong" in error_code(refused)

    # moto does not enforce PublishBatch's total size (DESIGN.md section 6); LocalStack does
    @pytest.mark.parametrize("bus", SNS_SIZE_ENFORCED, indirect=True)
    async def test_sns_refuses_a_batch_over_256_kib_as_aws_does(self, bus: Bus) -> None:
        entries = [
            {"Id": str(n), "Message": "x" * 100_000, "MessageAttributes": typed("TodoCreated")}
            for n in range(3)
        ]

        with pytest.raises(ClientError) as refused:
            await bus.sns.publish_batch(TopicArn=bus.topic_arn, PublishBatchRequestEntries=entries)

        assert error_code(refused) == "BatchRequestTooLong"


PUBLISH_THEN_DIE = """
import asyncio, os, signal, sys
from pathlib import Path
from shared.settings import Settings
from shared.messaging.transports import transport_client

async def main():
    var_dir, prefix, topic = sys.argv[1:]
    settings = Settings(transport="embedded", var_dir=Path(var_dir), resource_prefix=prefix)
    async with transport_client(settings, "sns") as sns:
        entries = [{"Id": "0", "Message": "survivor",
                    "MessageAttributes": {"type": {"DataType": "String",
                                                   "StringValue": "CalendarRequested"}}}]
        await sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


class TestEmbeddedOnly:
    """The embedded transport's own file and in-process wake-ups: nothing to hold AWS to."""

    @embedded_only
    async def test_an_accepted_publish_survives_a_killed_process(self, bus: Bus) -> None:
        settings = bus.settings
        killed = await asyncio.create_subprocess_exec(
            *[sys.executable, "-c", PUBLISH_THEN_DIE, str(settings.var_dir)],
            *[settings.resource_prefix, bus.topic_arn],
        )

        assert await killed.wait() == -9
        [message] = await bus.receive(await bus.queue(CALENDAR_WORKER))
        assert message["Body"] == "survivor"

    @embedded_only
    async def test_a_waiting_receive_is_woken_by_a_publish_at_once(
        self, bus: Bus, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # the re-read of the file pushed beyond the wait: only the wake-up ends it early
        monkeypatch.setattr(sqs_client, "CROSS_PROCESS_POLL_S", 10 * sqs_client.MAX_WAIT_TIME_S)
        waiting_started = asyncio.Event()
        wait = Wakeups.wait

        async def noted_wait(
            wakeups: Wakeups, waiter: asyncio.Future[None], timeout_s: float
        ) -> None:
            waiting_started.set()
            await wait(wakeups, waiter, timeout_s)

        monkeypatch.setattr(Wakeups, "wait", noted_wait)
        url = await bus.queue(CALENDAR_WORKER)
        waiting = asyncio.create_task(bus.receive(url, wait_s=sqs_client.MAX_WAIT_TIME_S))
        await asyncio.wait_for(waiting_started.wait(), 30)

        published_at = time.perf_counter()
        await bus.publish("CalendarRequested")
        received = await waiting
        woken_after_s = time.perf_counter() - published_at

        assert len(received) == 1
        # unwoken, it would return at the end of its 20 s wait
        assert woken_after_s < sqs_client.MAX_WAIT_TIME_S / 2

    @embedded_only
    async def test_a_receive_reads_an_index_in_order_and_sorts_nothing(self, bus: Bus) -> None:
        with transport_file(bus.settings) as conn:
            plan = [
                row[3]
                for row in conn.execute(
                    "EXPLAIN QUERY PLAN " + messages.visible_sql(2), ("q", 0, 0, 0, 1, 2, 10)
                )
            ]

        assert plan == [
            "SEARCH messages USING INDEX messages_by_visibility"
            " (queue=? AND visible_at_ms>? AND visible_at_ms<?)"
        ]

    @embedded_only
    async def test_a_receives_work_does_not_grow_with_the_queues_depth(self, bus: Bus) -> None:
        name = Names(bus.settings.resource_prefix).queue(CALENDAR_WORKER)
        with transport_file(bus.settings) as conn:
            queue = queues.find_queue(conn, name)
            assert queue is not None
            fill(conn, name, 20)
            shallow = receive_steps(conn, queue)
            fill(conn, name, DEEP_QUEUE)
            deep = receive_steps(conn, queue)

        # SQLite's virtual machine steps, counted: some 760 at 10 waiting, 790 at 100,000 (a
        # sort of every visible row took millions)
        assert deep <= shallow * 2

    @embedded_only
    async def test_expired_rows_not_yet_swept_cost_a_receive_nothing(self, bus: Bus) -> None:
        name = Names(bus.settings.resource_prefix).queue(CALENDAR_WORKER)
        with transport_file(bus.settings) as conn:
            queue = queues.find_queue(conn, name)
            assert queue is not None
            fill(conn, name, 20)
            shallow = receive_steps(conn, queue)
            fill(conn, name, DEEP_QUEUE)
            age_rows(conn, name, QUEUE_RETENTION_S)
            fill(conn, name, 20)
            past_expired = receive_steps(conn, queue)

        assert past_expired <= shallow * 2


DEEP_QUEUE = 100_000


def fill(conn: sqlite3.Connection, queue: str, count: int) -> None:
    conn.execute("BEGIN")
    batch = [messages.NewMessage('{"n": 0}', {}) for _ in range(1000)]
    for _ in range(0, count, len(batch)):
        messages.insert(conn, queue, batch[: min(len(batch), count)])
    conn.execute("COMMIT")


def receive_steps(conn: sqlite3.Connection, queue: queues.QueueRow) -> int:
    """The virtual machine steps (in tens) of one receive of 10 from the queue."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 10)
    try:
        received, _ = messages.receive(conn, queue, 10, 30)
    finally:
        conn.set_progress_handler(None, 0)
    assert len(received) == 10
    return steps
