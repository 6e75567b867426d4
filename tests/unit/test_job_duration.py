"""How long a job took is told once, after the fold that gives it both its request time and its
outcome, whatever order the events come in (on the in-memory records of tests/support/fakes.py)."""

from __future__ import annotations

from services.job_tracker.jobs import Job, Status
from services.job_tracker.projection import record_job_event
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CalendarFailed, CalendarReady, CalendarStarted
from shared.contracts.streams import render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from tests.support.factories import calendar_envelope, calendar_requested, todo_snapshots
from tests.support.fakes import MemoryJobBook


def job_events() -> tuple[Envelope, Envelope, Envelope, Envelope]:
    """A job's request, start, outcome, and a second outcome that loses to the first."""
    request = calendar_requested(todo_snapshots(2))
    requested, task_id = calendar_envelope(request), request.task_id
    stream = render_stream_id(task_id)
    started = wrap(
        CalendarStarted(task_id=task_id, attempt=1),
        stream_id=stream,
        stream_version=1,
        origin=ANONYMOUS_ORIGIN,
    )
    ready = CalendarReady(task_id=task_id, blob_key="k", size_bytes=1, sha256="s", event_count=2)
    failed = CalendarFailed(task_id=task_id, reason="late", attempts=1)
    return (
        requested,
        started,
        wrap(ready, stream_id=stream, stream_version=2, origin=ANONYMOUS_ORIGIN),
        wrap(failed, stream_id=stream, stream_version=3, origin=ANONYMOUS_ORIGIN),
    )


async def fold(*envelopes: Envelope) -> list[Job]:
    book, told = MemoryJobBook(), list[Job]()
    for envelope in envelopes:
        await record_job_event(envelope, book, told.append)
    return told


async def test_a_job_is_timed_when_its_outcome_is_folded() -> None:
    requested, started, ready, _ = job_events()

    [finished] = await fold(requested, started, ready)

    assert finished.status is Status.SUCCESS
    assert finished.requested_at == requested.data.requested_at  # type: ignore[union-attr]


async def test_an_outcome_before_its_request_is_timed_when_the_request_arrives() -> None:
    requested, started, ready, _ = job_events()

    [finished] = await fold(ready, started, requested)

    assert (finished.status, finished.todo_count) == (Status.SUCCESS, 2)


async def test_duplicates_and_a_losing_second_outcome_are_not_timed_again() -> None:
    requested, started, ready, failed = job_events()

    told = await fold(requested, ready, ready, failed, requested, started)

    assert [job.status for job in told] == [Status.SUCCESS]


async def test_a_job_without_an_outcome_is_not_timed() -> None:
    requested, started, _, _ = job_events()

    assert await fold(requested, started) == []
