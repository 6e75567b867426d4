"""A large calendar's progress, from the worker's reports to the job tracker's job, on the
in-memory twins: at most one report per watch interval, none for a small job. The status route
that shows it: tests/integration/calendar_worker/test_progress.py."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest

from services.calendar_worker.handlers import WATCH_INTERVAL_S, WorkerPorts, build_calendar
from services.job_tracker.jobs import Job, Status
from services.job_tracker.projection import record_job_event
from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarProgress
from tests.support.factories import calendar_envelope, calendar_requested, delivery, todo_snapshots
from tests.support.fakes import MemoryJobBook, MemoryRenderBook
from tests.support.slow_render import chunks_of, slow_render

LARGE = 14_000


def reports(queued: list[Envelope]) -> list[CalendarProgress]:
    return [envelope.data for envelope in queued if isinstance(envelope.data, CalendarProgress)]


async def jobs_seen(published: list[Envelope]) -> list[Job]:
    """The tracker's job after each event, folded in the order they were published."""
    tracker = MemoryJobBook()
    seen: list[Job] = []
    for envelope in published:
        await record_job_event(envelope, tracker)
        seen.extend(tracker.state.jobs.values())
    return seen


class TestLargeCalendars:
    async def test_a_slow_render_reports_its_progress_at_most_once_per_interval(
        self, ports: WorkerPorts, book: MemoryRenderBook, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # about 1.5 s of rendering: 30 chunks of 50 ms
        slow_render(monkeypatch, chunk_s=0.05)
        requested = calendar_envelope(calendar_requested(todo_snapshots(LARGE)))

        await build_calendar(requested, delivery(receive_count=2), ports)

        types = [envelope.type for envelope in book.state.queued]
        assert types[0] == "CalendarStarted"
        assert types[-1] == "CalendarReady"
        progress = reports(book.state.queued)
        assert 1 <= len(progress) <= 1 + chunks_of(LARGE) * 0.05 / WATCH_INTERVAL_S
        assert all(0 <= report.done <= report.total == LARGE for report in progress)
        assert [report.done for report in progress] == sorted({r.done for r in progress})
        assert {report.attempt for report in progress} == {2}
        times = [e.occurred_at for e in book.state.queued if e.type == "CalendarProgress"]
        gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
        assert all(gap >= WATCH_INTERVAL_S * 0.9 for gap in gaps), gaps

    async def test_the_tracker_shows_the_progress_while_rendering_then_the_outcome_alone(
        self, ports: WorkerPorts, book: MemoryRenderBook, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        slow_render(monkeypatch, chunk_s=0.02)
        requested = calendar_envelope(calendar_requested(todo_snapshots(LARGE)))
        fast = dataclasses.replace(ports, watch_interval_s=0.05)

        await build_calendar(requested, delivery(), fast)

        # the tracker needs none of the request's todos to show the progress
        seen = await jobs_seen(book.state.queued)
        rendering = [job for job in seen if job.progress_total is not None]
        assert rendering, [job.status for job in seen]
        assert all(job.status is Status.STARTED for job in rendering)
        assert all(
            0 <= (job.progress_done or 0) <= LARGE == job.progress_total for job in rendering
        )
        assert (seen[-1].status, seen[-1].progress_total) == (Status.SUCCESS, None)


class TestSmallCalendars:
    @pytest.mark.parametrize(
        ("quick_render_todos", "expected"),
        [
            pytest.param(1000, ["CalendarReady"], id="quick"),
            pytest.param(0, ["CalendarStarted", "CalendarReady"], id="leased"),
        ],
    )
    async def test_a_small_job_sends_no_progress_event(
        self,
        ports: WorkerPorts,
        book: MemoryRenderBook,
        quick_render_todos: int,
        expected: list[str],
    ) -> None:
        small = dataclasses.replace(ports, quick_render_todos=quick_render_todos)
        requested = calendar_envelope(calendar_requested(todo_snapshots(100)))

        await build_calendar(requested, delivery(), small)

        assert [envelope.type for envelope in book.state.queued] == expected
