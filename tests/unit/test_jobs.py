"""The job state machine: any delivery order folds to the same job."""

from __future__ import annotations

import itertools
from functools import reduce
from uuid import uuid4

import pytest

from services.job_tracker.jobs import Job, Status, evolve
from shared.events import (
    AnyEvent,
    CalendarFailed,
    CalendarReady,
    CalendarRequested,
    CalendarStarted,
)
from tests.factories import NOW

TASK = uuid4()
REQUESTED = CalendarRequested(task_id=TASK, requested_at=NOW, todo_count=2, todos=())
STARTED = CalendarStarted(task_id=TASK, attempt=1)
RETRIED = CalendarStarted(task_id=TASK, attempt=2)
READY = CalendarReady(
    task_id=TASK, blob_key="calendars/x.ics", size_bytes=10, sha256="ab", event_count=2
)
FAILED = CalendarFailed(task_id=TASK, reason="ValueError: broken", attempts=2)


def fold(events: list[AnyEvent]) -> Job:
    return reduce(evolve, events, Job(task_id=TASK))


class TestInOrder:
    def test_a_new_job_is_pending(self) -> None:
        assert fold([REQUESTED]).status is Status.PENDING

    def test_a_started_job_is_started_and_a_second_attempt_is_a_retry(self) -> None:
        assert fold([REQUESTED, STARTED]).status is Status.STARTED
        assert fold([REQUESTED, STARTED, RETRIED]).status is Status.RETRY

    def test_a_ready_job_succeeds_with_its_file(self) -> None:
        job = fold([REQUESTED, STARTED, READY])
        assert (job.status, job.result_key, job.todo_count) == (
            Status.SUCCESS,
            "calendars/x.ics",
            2,
        )

    def test_a_failed_job_keeps_the_reason(self) -> None:
        job = fold([REQUESTED, STARTED, RETRIED, FAILED])
        assert (job.status, job.error, job.attempt) == (Status.FAILURE, "ValueError: broken", 2)


class TestReordered:
    @pytest.mark.parametrize("order", list(itertools.permutations([REQUESTED, STARTED, READY])))
    def test_every_order_of_a_successful_job_folds_to_the_same_job(
        self, order: tuple[AnyEvent, ...]
    ) -> None:
        assert fold(list(order)) == fold([REQUESTED, STARTED, READY])

    @pytest.mark.parametrize(
        "order", list(itertools.permutations([REQUESTED, STARTED, RETRIED, FAILED]))
    )
    def test_every_order_of_a_failed_job_folds_to_the_same_job(
        self, order: tuple[AnyEvent, ...]
    ) -> None:
        assert fold(list(order)) == fold([REQUESTED, STARTED, RETRIED, FAILED])

    def test_a_terminal_state_is_never_overwritten_by_an_earlier_stage(self) -> None:
        assert fold([READY, STARTED]).status is Status.SUCCESS
        assert fold([FAILED, RETRIED]).status is Status.FAILURE

    def test_an_older_attempt_never_replaces_a_newer_one(self) -> None:
        assert fold([RETRIED, STARTED]) == fold([STARTED, RETRIED])

    def test_duplicates_change_nothing(self) -> None:
        assert fold([REQUESTED, STARTED, STARTED, READY, READY]) == fold(
            [REQUESTED, STARTED, READY]
        )
