"""The job state machine: any delivery order of a job's events folds to the same job."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from functools import reduce
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.job_tracker.jobs import Job, Status, evolve
from services.job_tracker.records import job_values, row_to_job
from shared.contracts.events import (
    AnyEvent,
    CalendarCancelled,
    CalendarFailed,
    CalendarProgress,
    CalendarReady,
    CalendarRequested,
    CalendarRevoked,
    CalendarStarted,
)
from tests.support.factories import NOW

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


REVOKED = CalendarRevoked(task_id=TASK, revoked_at=NOW)


class TestCancelledAndRevoked:
    def test_a_revoked_job_is_revoked_and_keeps_its_details(self) -> None:
        job = fold([REQUESTED, STARTED, CANCELLED, REVOKED])
        assert (job.status, job.todo_count, job.attempt) == (Status.REVOKED, 2, 1)
        assert job.finished

    def test_the_clients_cancel_alone_decides_nothing(self) -> None:
        # the render may have ended before the cancel reached the worker: only it can tell
        assert fold([REQUESTED, STARTED, CANCELLED]) == fold([REQUESTED, STARTED])
        assert fold([REQUESTED, CANCELLED, READY]).status is Status.SUCCESS

    @pytest.mark.parametrize(
        "order", list(itertools.permutations([REQUESTED, STARTED, CANCELLED, REVOKED]))
    )
    def test_a_revocation_in_any_order_folds_to_the_same_revoked_job(
        self, order: tuple[AnyEvent, ...]
    ) -> None:
        assert fold(list(order)) == fold([REQUESTED, STARTED, CANCELLED, REVOKED])

    def test_a_revocation_that_arrives_before_the_request_still_ends_revoked(self) -> None:
        job = fold([REVOKED, REQUESTED])
        assert (job.status, job.todo_count, job.requested_at) == (Status.REVOKED, 2, NOW)

    def test_nothing_after_the_revocation_changes_the_state(self) -> None:
        job = fold([REQUESTED, REVOKED, RETRIED, progress(500)])
        assert (job.status, job.result_key, job.error) == (Status.REVOKED, None, None)
        assert (job.progress_done, job.progress_total) == (None, None)


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


# every event a job can have besides its one outcome, duplicates and stale attempts included
PROGRESS_AND_STARTS = st.sampled_from(
    [
        REQUESTED,
        CANCELLED,
        STARTED,
        RETRIED,
        CalendarStarted(task_id=TASK, attempt=3),
        progress(500),
        progress(1500),
        progress(700, attempt=2),
        progress(100, attempt=3),
    ]
)
OUTCOMES = st.sampled_from([None, READY, FAILED, REVOKED])


class TestAnyOrder:
    @given(events=st.lists(PROGRESS_AND_STARTS, max_size=8), outcome=OUTCOMES, data=st.data())
    def test_any_order_of_any_events_with_one_outcome_folds_to_the_same_job(
        self, events: list[AnyEvent], outcome: AnyEvent | None, data: st.DataObject
    ) -> None:
        history = events + ([] if outcome is None else [outcome])
        reordered = data.draw(st.permutations(history))

        assert fold(list(reordered)) == fold(history)


def test_a_job_s_row_holds_every_field_of_the_job_as_it_is() -> None:
    job = Job(
        task_id=uuid4(),
        tenant="acme",
        status=Status.SUCCESS,
        attempt=2,
        todo_count=3,
        requested_at=NOW,
        result_key="calendars/x.ics",
        size_bytes=10,
        sha256="s",
        error=None,
        finished_at=NOW,
        progress_done=3,
        progress_total=3,
    )

    row = job_values(job, NOW)

    assert row == {**asdict(job), "task_id": str(job.task_id), "updated_at": NOW}
    assert row_to_job(row) == job
