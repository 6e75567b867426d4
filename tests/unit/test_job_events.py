"""The pure parts of a job's event stream: an event on the wire, the id of a state, the bound on
open streams, and the wake-ups a change brings to the watchers of its job only."""

from __future__ import annotations

from uuid import uuid4

import pytest

from services.job_tracker.job_changes import InProcessJobChanges, Watchers
from services.job_tracker.job_events import state_id
from services.job_tracker.stream_slots import StreamSlots
from services.job_tracker.views import StatusAnswer
from shared.contracts.responses import Progress, TaskStatus
from shared.web.sse import KEEPALIVE, sse_event

TASK_ID = uuid4()


def answer(
    status: str = "STARTED",
    progress: Progress | None = None,
    host: str = "api.example",
    error: str | None = None,
) -> StatusAnswer:
    shown = TaskStatus(
        task_id=TASK_ID,
        task_status=status,
        result_url=f"https://{host}/api/v1/todos/ical/{TASK_ID}/result",
        progress=progress,
        error=error,
    )
    hidden = {"expired"} | ({"progress"} if progress is None else set())
    return StatusAnswer(shown, frozenset(hidden if error is None else hidden | {"error"}))


class TestWire:
    def test_an_event_is_its_id_and_its_data_lines_then_a_blank_line(self) -> None:
        assert sse_event("abc", '{"a":1}') == b'id: abc\ndata: {"a":1}\n\n'

    def test_data_of_several_lines_is_sent_as_several_data_fields(self) -> None:
        assert sse_event("x", "one\ntwo") == b"id: x\ndata: one\ndata: two\n\n"

    def test_an_id_of_more_than_one_line_is_refused(self) -> None:
        with pytest.raises(ValueError, match="one line"):
            sse_event("a\nb", "{}")

    def test_the_keep_alive_is_a_comment(self) -> None:
        assert KEEPALIVE.startswith(b":")
        assert KEEPALIVE.endswith(b"\n\n")


class TestStateIds:
    def test_equal_states_have_equal_ids_whatever_host_was_asked(self) -> None:
        assert state_id(answer(host="a.example")) == state_id(answer(host="b.example"))

    def test_a_new_status_or_progress_is_a_new_id(self) -> None:
        ids = {
            state_id(answer("PENDING")),
            state_id(answer("STARTED")),
            state_id(answer("STARTED", Progress(done=1, total=10))),
            state_id(answer("STARTED", Progress(done=2, total=10))),
            state_id(answer("SUCCESS")),
        }

        assert len(ids) == 5

    def test_the_id_fits_on_one_line(self) -> None:
        assert sse_event(state_id(answer()), "{}").count(b"\n") == 3

    def test_a_finished_answer_says_so(self) -> None:
        assert [answer(status).finished for status in ("STARTED", "SUCCESS", "REVOKED")] == [
            False,
            True,
            True,
        ]


class TestStreamSlots:
    def test_slots_are_taken_up_to_the_limit_and_given_back(self) -> None:
        slots = StreamSlots(2)

        taken = [slots.take(), slots.take(), slots.take()]
        slots.give_back()
        again = slots.take()

        assert taken == [True, True, False]
        assert again is True
        assert slots.open == 2

    def test_a_limit_of_zero_takes_none(self) -> None:
        assert StreamSlots(0).take() is False


class TestWatchers:
    async def test_a_change_wakes_the_watchers_of_its_job_only(self) -> None:
        watchers, other = Watchers(), uuid4()
        with watchers.watching(TASK_ID) as mine, watchers.watching(other) as theirs:
            watchers.wake(TASK_ID)

            assert await mine.wait(1.0) is True
            assert await theirs.wait(0.01) is False

    async def test_a_wake_up_is_cleared_once_seen(self) -> None:
        watchers = Watchers()
        with watchers.watching(TASK_ID) as wakeup:
            watchers.wake(TASK_ID)
            watchers.wake(TASK_ID)

            assert await wakeup.wait(1.0) is True
            assert await wakeup.wait(0.01) is False

    async def test_after_a_gap_every_watcher_is_woken(self) -> None:
        watchers = Watchers()
        with watchers.watching(TASK_ID) as one, watchers.watching(uuid4()) as two:
            watchers.wake_all()

            assert [await one.wait(1.0), await two.wait(1.0)] == [True, True]

    async def test_the_end_wakes_every_watcher_for_good_and_later_ones_at_once(self) -> None:
        watchers = Watchers()
        with watchers.watching(TASK_ID) as before:
            watchers.end_all()
            with watchers.watching(uuid4()) as after:
                assert await before.wait(1.0) is True
                assert (before.ended, after.ended) == (True, True)

    def test_a_watcher_that_left_is_forgotten(self) -> None:
        watchers = Watchers()
        with watchers.watching(TASK_ID):
            assert len(watchers) == 1

        assert len(watchers) == 0


class TestInProcessChanges:
    async def test_a_commit_wakes_the_watchers_of_the_jobs_it_changed(self) -> None:
        changes, other = InProcessJobChanges(), uuid4()
        with changes.watching(TASK_ID) as mine, changes.watching(other) as theirs:
            changes.committed({TASK_ID})
            woken = [await mine.wait(1.0), await theirs.wait(0.01)]

        assert woken == [True, False]
