"""Log lines say what they are about: the fields bound where work enters a service reach every
line, as JSON fields or as short tags on the readable line."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
from collections.abc import Callable
from typing import TypeVar
from uuid import uuid4

import pytest

from shared.observability import log_context
from shared.observability.logs import JsonFormatter, TextFormatter

T = TypeVar("T")
TASK = "1b2c3d4e-5f60-8a7b-9c8d-0e1f2a3b4c5d"
EVENT = "5f3a9b1c-0000-4000-8000-000000000001"
MESSAGE = "8d2e4f60-0000-4000-8000-000000000002"


def in_fresh_context(work: Callable[[], T]) -> T:
    """Run `work` in a copy of the context, as a task of its own would, so nothing leaks."""
    return contextvars.copy_context().run(work)


def record(message: str = "something happened", **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "shared.messaging.consumer", logging.WARNING, __file__, 1, message, (), None
    )
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def filtered(made: logging.LogRecord) -> logging.LogRecord:
    assert log_context.ContextFilter().filter(made)
    return made


class TestContextFilter:
    def test_adds_the_bound_fields_to_each_record(self) -> None:
        def work() -> logging.LogRecord:
            log_context.bind(task_id=TASK, correlation_id=TASK, message_id=MESSAGE)
            return filtered(record())

        made = in_fresh_context(work)

        assert (made.task_id, made.correlation_id, made.message_id) == (TASK, TASK, MESSAGE)  # type: ignore[attr-defined]

    def test_later_bindings_add_to_earlier_ones_and_none_leaves_a_field_out(self) -> None:
        def work() -> logging.LogRecord:
            log_context.bind(message_id=MESSAGE)
            log_context.bind(event_id=EVENT, task_id=None)
            return filtered(record())

        made = in_fresh_context(work)

        assert (made.message_id, made.event_id) == (MESSAGE, EVENT)  # type: ignore[attr-defined]
        assert not hasattr(made, "task_id")

    def test_a_field_given_to_the_log_call_wins(self) -> None:
        def work() -> logging.LogRecord:
            log_context.bind(task_id=TASK)
            return filtered(record(task_id="given"))

        assert in_fresh_context(work).task_id == "given"  # type: ignore[attr-defined]

    def test_a_record_outside_any_binding_gets_nothing(self) -> None:
        made = in_fresh_context(lambda: filtered(record()))

        assert not any(hasattr(made, field) for field in log_context.FIELDS)

    def test_binding_a_field_it_does_not_know_is_refused(self) -> None:
        with pytest.raises(ValueError, match="task"):
            in_fresh_context(lambda: log_context.bind(task=TASK))

    def test_a_task_started_after_binding_inherits_its_fields(self) -> None:
        async def child() -> object:
            return log_context.bound()["task_id"]

        async def parent() -> object:
            log_context.bind(task_id=TASK)
            return await asyncio.create_task(child())

        assert in_fresh_context(lambda: asyncio.run(parent())) == TASK


class TestJsonLines:
    def test_a_line_is_one_json_object_with_the_context_fields(self) -> None:
        line = JsonFormatter("calendar_worker").format(
            record("handled %s", task_id=TASK, correlation_id=TASK, event_id=EVENT)
        )

        parsed = json.loads(line)
        assert "\n" not in line
        assert parsed["message"] == "handled %s"
        assert parsed["service"] == "calendar_worker"
        assert parsed["level"] == "WARNING"
        assert parsed["logger"] == "shared.messaging.consumer"
        assert parsed["time"].endswith("+00:00")
        assert (parsed["task_id"], parsed["correlation_id"], parsed["event_id"]) == (
            TASK,
            TASK,
            EVENT,
        )
        assert "message_id" not in parsed

    def test_ids_bound_as_uuids_are_written_as_their_text(self) -> None:
        task_id = uuid4()

        parsed = json.loads(JsonFormatter("todo_api").format(record(task_id=task_id)))

        assert parsed["task_id"] == str(task_id)

    def test_a_service_bound_to_the_line_replaces_the_process_default(self) -> None:
        parsed = json.loads(JsonFormatter("taskoverflow").format(record(service="job_tracker")))

        assert parsed["service"] == "job_tracker"

    def test_a_traceback_stays_inside_the_object(self) -> None:
        try:
            raise RuntimeError("boom\nsecond line")
        except RuntimeError:
            made = record("failed")
            made.exc_info = sys.exc_info()

        line = JsonFormatter("todo_api").format(made)

        assert len(line.splitlines()) == 1
        assert "RuntimeError: boom" in json.loads(line)["exception"]


class TestReadableLines:
    def test_the_context_is_shown_as_short_tags_after_the_message(self) -> None:
        request_id = uuid4().hex
        made = record(
            "handled",
            task_id=TASK,
            correlation_id=TASK,
            event_id=EVENT,
            message_id=MESSAGE,
            request_id=request_id,
        )

        line = TextFormatter().format(made)

        tags = f"[task=1b2c3d4e event=5f3a9b1c msg=8d2e4f60 req={request_id[:8]}]"
        assert line.endswith(f"WARNING shared.messaging.consumer: handled {tags}")

    def test_a_correlation_id_other_than_the_task_id_is_shown(self) -> None:
        line = TextFormatter().format(record("x", correlation_id=EVENT))

        assert line.endswith("x [corr=5f3a9b1c]")

    def test_a_line_about_nothing_in_particular_has_no_tags(self) -> None:
        assert (
            TextFormatter().format(record("started")).endswith("shared.messaging.consumer: started")
        )
