"""Dead letters read from the message alone and grouped by event type and failure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.messaging.dead_letters.failures import failure_attributes, public_reason
from shared.messaging.dead_letters.grouping import UNKNOWN_FAILURE, describe, group, group_id
from shared.messaging.dead_letters.moves import batch_size
from shared.messaging.pace import Pace
from tests.support.factories import calendar_envelope, calendar_requested

AT = datetime(2026, 12, 6, 10, 0, 0)


def message(body: str, message_id: str, **attributes: Any) -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"handle-{message_id}",
        "Body": body,
        "MessageAttributes": attributes,
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1765015200000"},
    }


def failed(body: str, message_id: str, reason: str, at: datetime = AT) -> dict[str, Any]:
    return message(body, message_id, **failure_attributes(reason, at, receives=5))


class TestDescribe:
    def test_a_readable_event_names_its_type_event_task_and_recorded_failure(self) -> None:
        envelope = calendar_envelope(
            calendar_requested(snapshot_key="snapshots/x.json", todos=None)
        )

        letter = describe(failed(envelope.to_json(), "m1", "RuntimeError"))

        assert letter.event_type == "CalendarRequested"
        assert letter.event_id == str(envelope.event_id)
        assert letter.task_id == str(envelope.data.task_id)  # type: ignore[union-attr]
        assert letter.failure == "RuntimeError"
        assert letter.failed_at == AT
        assert letter.receive_count == 5
        assert letter.snapshot_key == "snapshots/x.json"

    def test_an_unreadable_body_says_why_from_the_body_when_nothing_was_recorded(self) -> None:
        letter = describe(message("not an event", "m2"))

        assert letter.event_type == "?"
        assert letter.failure.startswith("unreadable: ")
        assert letter.event_id is None
        assert letter.receive_count == 2
        # no recorded failure time: when SQS took it
        assert letter.failed_at == datetime(2025, 12, 6, 10, 0, 0)

    def test_a_readable_event_moved_by_the_redrive_policy_has_an_unknown_failure(self) -> None:
        letter = describe(message(calendar_envelope(calendar_requested()).to_json(), "m3"))

        assert letter.failure == UNKNOWN_FAILURE

    def test_the_public_reason_of_a_handler_error_is_its_class_only(self) -> None:
        assert public_reason(RuntimeError("password=hunter2 at db-7")) == "RuntimeError"
        assert public_reason(ValueError("bad JSON"), unreadable=True) == "unreadable: bad JSON"


class TestGroup:
    def test_letters_group_by_event_type_and_failure_with_counts_and_first_and_last(
        self,
    ) -> None:
        requested = [calendar_envelope(calendar_requested()).to_json() for _ in range(3)]
        letters = [
            describe(failed(requested[0], "a", "RuntimeError", datetime(2026, 1, 2))),
            describe(failed(requested[1], "b", "RuntimeError", datetime(2026, 1, 1))),
            describe(failed(requested[2], "c", "KeyError", datetime(2026, 1, 3))),
            describe(failed("junk", "d", "unreadable: Invalid JSON")),
            describe(failed("junk", "e", "unreadable: Invalid JSON")),
            describe(failed("junk", "f", "unreadable: Invalid JSON")),
        ]

        groups = group(letters)

        assert [(g.event_type, g.failure, g.count) for g in groups] == [
            ("?", "unreadable: Invalid JSON", 3),
            ("CalendarRequested", "RuntimeError", 2),
            ("CalendarRequested", "KeyError", 1),
        ]
        runtime = groups[1]
        assert runtime.message_ids == ("a", "b")
        assert (runtime.first_seen, runtime.last_seen) == (
            datetime(2026, 1, 1),
            datetime(2026, 1, 2),
        )
        assert runtime.group_id == group_id("CalendarRequested", "RuntimeError")

    def test_a_group_id_is_the_same_on_every_look_and_differs_by_type_or_failure(self) -> None:
        assert group_id("A", "x") == group_id("A", "x")
        assert len({group_id("A", "x"), group_id("B", "x"), group_id("A", "y")}) == 3

    def test_no_letters_no_groups(self) -> None:
        assert group([]) == []


class TestPace:
    def test_a_rate_of_five_a_second_spaces_batches_of_five_a_second_apart(self) -> None:
        now = [100.0]
        pace = Pace(5.0, clock=lambda: now[0])

        waits = [pace.wait_s(batch_size(5.0)) for _ in range(3)]

        assert batch_size(5.0) == 5
        assert waits == [0.0, 1.0, 2.0]

    def test_no_rate_never_waits_and_sends_full_batches(self) -> None:
        pace = Pace(None)

        assert [pace.wait_s(10) for _ in range(3)] == [0.0, 0.0, 0.0]
        assert batch_size(None) == 10
        assert batch_size(0.5) == 1
