"""The job state machine: any delivery order folds to the same job (a cancel and an outcome
that both exist excepted: the first terminal event wins)."""

from __future__ import annotations

import itertools
from functools import reduce
from uuid import uuid4

import pytest

from services.job_tracker.jobs import Job, Status, evolve
from shared.events import (
    AnyEvent,
    CalendarCancelled,
    CalendarFailed,
    CalendarProgress,
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


CANCELLED = CalendarCancelled(task_id=TASK, cancelled_at=NOW)


def progress(done: int, attempt: int = 1, total: int = 2000) -> CalendarProgress:
    return CalendarProgress(task_id=TASK, attempt=attempt, done=done, total=total)


class TestCancelled:
    def test_a_cancelled_job_is_revoked_and_keeps_its_details(self) -> None:
        job = fold([REQUESTED, STARTED, CANCELLED])
        assert (job.status, job.todo_count, job.attempt) == (Status.REVOKED, 2, 1)
        assert job.finished

    @pytest.mark.parametrize("order", list(itertools.permutations([REQUESTED, STARTED, CANCELLED])))
    def test_a_cancel_in_any_order_folds_to_the_same_revoked_job(
        self, order: tuple[AnyEvent, ...]
    ) -> None:
        assert fold(list(order)) == fold([REQUESTED, STARTED, CANCELLED])

    def test_a_cancel_that_arrives_before_the_request_still_ends_revoked(self) -> None:
        job = fold([CANCELLED, REQUESTED])
        assert (job.status, job.todo_count, job.requested_at) == (Status.REVOKED, 2, NOW)

    def test_nothing_after_the_cancel_changes_the_state(self) -> None:
        job = fold([REQUESTED, CANCELLED, RETRIED, progress(500), READY, FAILED])
        assert (job.status, job.result_key, job.error) == (Status.REVOKED, None, None)
        assert (job.progress_done, job.progress_total) == (None, None)

    def test_the_first_terminal_event_wins_when_a_cancel_and_an_outcome_both_exist(self) -> None:
        # a render that stored its file just before it learned of the cancel
        assert fold([REQUESTED, READY, CANCELLED]).status is Status.SUCCESS
        assert fold([REQUESTED, CANCELLED, READY]).status is Status.REVOKED
        assert fold([REQUESTED, FAILED, CANCELLED]).status is Status.FAILURE


class TestProgress:
    def test_a_report_shows_how_far_the_render_got(self) -> None:
        job = fold([REQUESTED, STARTED, progress(500)])
        assert (job.status, job.progress_done, job.progress_total) == (Status.STARTED, 500, 2000)

    def test_reports_out_of_order_keep_the_furthest(self) -> None:
        job = fold([REQUESTED, STARTED, progress(1500), progress(500)])
        assert job.progress_done == 1500

    def test_a_report_before_its_start_says_the_attempt_started(self) -> None:
        assert fold([REQUESTED, progress(500)]) == fold([REQUESTED, STARTED, progress(500)])

    def test_a_new_attempt_starts_from_nothing_and_ignores_the_older_ones_reports(self) -> None:
        job = fold([REQUESTED, STARTED, progress(1500), RETRIED, progress(1000)])
        assert (job.status, job.progress_done) == (Status.RETRY, None)

        job = fold([REQUESTED, STARTED, progress(1500), progress(500, attempt=2)])
        assert (job.status, job.attempt, job.progress_done) == (Status.RETRY, 2, 500)

    def test_the_outcome_ends_the_progress(self) -> None:
        job = fold([REQUESTED, STARTED, progress(2000), READY])
        assert (job.status, job.progress_done, job.progress_total) == (Status.SUCCESS, None, None)

    @pytest.mark.parametrize(
        "order", list(itertools.permutations([REQUESTED, STARTED, progress(500), READY]))
    )
    def test_every_order_of_a_reported_job_folds_to_the_same_job(
        self, order: tuple[AnyEvent, ...]
    ) -> None:
        assert fold(list(order)) == fold([REQUESTED, STARTED, READY])
