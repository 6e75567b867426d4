"""Dead letters on both transports (the embedded one and moto): a consumer that gives up says
why, the letters group by event type and failure, a group goes back at a rate and is handled,
another is discarded with a reason recorded in todo_api's log, and a redrive cut off half-way
and started again hands the consumer every event once as its inbox sees it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.clock import utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.events import DeadLetterDiscarded
from shared.contracts.topology import JOB_TRACKER
from shared.messaging.consumer import Delivery
from shared.messaging.dead_letters.dead_letter_queue import DeadLetterQueue, Selection
from shared.messaging.dead_letters.failures import failure_attributes
from shared.messaging.dead_letters.grouping import group_id
from shared.messaging.dead_letters.moves import Progress
from tests.support.dead_letter_stack import LetterStack, job_events, letter_stack
from tests.support.polling import eventually

JOBS = 3


@pytest.fixture(params=["embedded", "moto"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LetterStack]:
    moto_url = request.getfixturevalue("moto_url") if request.param == "moto" else ""
    async with letter_stack(request.param, moto_url, tmp_path) as opened:
        yield opened


async def fail_into_the_dlq(stack: LetterStack, events: list[Envelope], junk: int) -> None:
    """A tracker release with a bug in its CalendarReady fold, and some unreadable messages."""

    async def buggy(envelope: Envelope, _delivery: Delivery) -> None:
        raise RuntimeError("bug in this release, with a detail the page must not show")

    await stack.send_events(stack.queue, events)
    await stack.send(stack.queue, [("CalendarReady", f"not an event {n}") for n in range(junk)])

    async def all_dead() -> bool:
        await stack.tracker(buggy).run_until_idle(wait_time_s=1)
        return await stack.depth(stack.dlq) == (len(events) + junk, 0)

    await eventually(all_dead, timeout_s=60, interval_s=0.2)


class TestGroupsAndActions:
    async def test_a_group_redriven_at_a_rate_is_handled_and_another_discarded_with_a_reason(
        self, stack: LetterStack
    ) -> None:
        events = job_events(JOBS)
        await fail_into_the_dlq(stack, events, junk=2)
        readable = group_id("CalendarRequested", "RuntimeError")
        ready = group_id("CalendarReady", "RuntimeError")

        listed = await stack.replay("dead-letters", "list", "--service", "job_tracker")
        groups = {
            g.group_id: g
            for g in await DeadLetterQueue(stack.sqs, JOB_TRACKER, stack.names).groups()
        }
        some_id = groups[readable].message_ids[0]
        shown = await stack.replay(
            "dead-letters", "show", "--service", "job_tracker", "--message", some_id
        )

        assert listed.status == 0, listed.err
        assert "8 messages in 3 groups" in listed.out
        assert {(g.event_type, g.failure, g.count) for g in groups.values()} == {
            ("CalendarRequested", "RuntimeError", JOBS),
            ("CalendarReady", "RuntimeError", JOBS),
            ("CalendarReady", "unreadable: Invalid JSON: expected ident at line 1 column 2", 2),
        }
        assert readable in listed.out
        assert ready in listed.out
        assert "must not show" not in listed.out
        assert all(g.first_seen and g.last_seen for g in groups.values())
        assert shown.status == 0, shown.err
        assert '"failed_receives": "2"' in shown.out
        assert '"receive_count": 2' in shown.out

        for group in (readable, ready):
            ran = await stack.replay(
                "dead-letters",
                "redrive",
                "--service",
                "job_tracker",
                "--group",
                group,
                "--rate",
                "5",
            )
            assert ran.status == 0, ran.err
            assert f"moved {JOBS} of {JOBS} messages" in ran.out
        await stack.tracker().run_until_idle(wait_time_s=1)

        states = await stack.job_states()
        assert len(states) == JOBS
        assert set(states.values()) == {"SUCCESS"}
        assert sorted(await stack.inbox()) == sorted(str(e.event_id) for e in events)
        junk = next(g for g in groups.values() if g.failure.startswith("unreadable"))
        assert await stack.depth(stack.dlq) == (2, 0)

        discard = (
            "dead-letters",
            "discard",
            "--service",
            "job_tracker",
            "--group",
            junk.group_id,
            "--reason",
            "test junk from a load test",
            "--by",
            "operator:test",
        )
        first = await stack.replay(*discard)
        again = await stack.replay(*discard)

        assert first.status == 0, first.err
        assert "discarded 2 messages" in first.out
        assert again.status == 1
        assert "holds no message of this selection" in again.err
        assert await stack.depth(stack.dlq) == (0, 0)
        recorded = await stack.logged(stack.todo_store, "DeadLetterDiscarded")
        # a record for operators: no queue receives it, so nothing is queued to publish
        assert await stack.queued_to_publish(stack.todo_store) == 0
        assert len(recorded) == 2
        assert {e.actor for e in recorded} == {"operator:test"}
        discards = [e.data for e in recorded]
        assert all(isinstance(d, DeadLetterDiscarded) for d in discards)
        assert {d.message_id for d in discards} == set(junk.message_ids)  # type: ignore[union-attr]
        assert {d.reason for d in discards} == {"test junk from a load test"}  # type: ignore[union-attr]
        assert {d.body for d in discards} == {"not an event 0", "not an event 1"}  # type: ignore[union-attr]

    async def test_one_message_can_be_redriven_alone(self, stack: LetterStack) -> None:
        events = job_events(1)
        await stack.send_events(stack.dlq, events, **failure_attributes("KeyError", utcnow(), 5))
        queue = DeadLetterQueue(stack.sqs, JOB_TRACKER, stack.names)
        letters = await queue.letters()
        one = next(letter for letter in letters if letter.event_type == "CalendarRequested")

        chosen = await queue.chosen(Selection(message_ids=(one.message_id,)))
        progress = await queue.redrive(chosen, Progress(len(chosen)))
        await stack.tracker().run_until_idle(wait_time_s=1)

        assert (progress.moved, progress.total) == (1, 1)
        assert await stack.inbox() == [str(one.event_id)]
        assert await stack.depth(stack.dlq) == (1, 0)


class KilledError(Exception):
    """The redrive's process died here."""


class CrashAfterSending:
    """An SQS client whose process dies after its first batch reached the queue and before
    the DLQ lost it: the worst moment of a redrive."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.sent = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    async def send_message_batch(self, **request: Any) -> Any:
        answer = await self._sqs.send_message_batch(**request)
        self.sent += len(answer.get("Successful", []))
        return answer

    async def delete_message_batch(self, **_request: Any) -> Any:
        raise KilledError("between the send and the delete")


class TestCrashHalfWay:
    async def test_a_redrive_cut_off_and_run_again_hands_the_consumer_each_event_once(
        self, stack: LetterStack
    ) -> None:
        events = job_events(6)
        await stack.send_events(
            stack.dlq, events, **failure_attributes("RuntimeError", utcnow(), 2)
        )
        crashing = CrashAfterSending(stack.sqs)
        cut_off = DeadLetterQueue(crashing, JOB_TRACKER, stack.names, hide_s=1)
        chosen = await cut_off.chosen(Selection())

        with pytest.raises(KilledError):
            await cut_off.redrive(chosen, Progress(len(chosen)), rate=5.0)

        # the batch reached the queue but is still in the DLQ: it shows again there
        async def back_in_the_dlq() -> bool:
            return await stack.depth(stack.dlq) == (len(events), 0)

        await eventually(back_in_the_dlq, timeout_s=30, interval_s=0.2)
        assert crashing.sent == 5
        assert (await stack.depth(stack.queue))[0] == 5

        again = DeadLetterQueue(stack.sqs, JOB_TRACKER, stack.names)
        progress = await again.redrive(await again.chosen(Selection()), Progress(len(events)))
        tracker = stack.tracker()
        await tracker.run_until_idle(wait_time_s=1)

        assert progress.moved == len(events)
        assert await stack.depth(stack.dlq) == (0, 0)
        # five events arrived twice; the inbox took every event once, and so did the log
        assert tracker.handled == len(events) + 5
        inbox = await stack.inbox()
        assert sorted(inbox) == sorted(str(e.event_id) for e in events)
        logged = await stack.logged(stack.tracker_store)
        assert sorted(str(e.event_id) for e in logged) == sorted(inbox)
        assert set((await stack.job_states()).values()) == {"SUCCESS"}


class TestRate:
    async def test_ten_messages_at_five_a_second_take_two_seconds_of_batches(
        self, stack: LetterStack
    ) -> None:
        events = job_events(5)
        await stack.send_events(stack.dlq, events, **failure_attributes("KeyError", utcnow(), 2))
        queue = DeadLetterQueue(stack.sqs, JOB_TRACKER, stack.names)
        chosen = await queue.chosen(Selection())
        started = time.monotonic()

        progress = await queue.redrive(chosen, Progress(len(chosen)), rate=5.0)

        # batches of five, the second one second after the first
        assert time.monotonic() - started >= 1.0
        assert (progress.moved, progress.total, progress.missing) == (10, 10, 0)
        assert await stack.depth(stack.queue) == (10, 0)
