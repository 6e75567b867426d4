"""record_job_event on the in-memory records (tests/support/fakes.py, held to the database's by
tests/integration/job_tracker/test_job_book_contract.py): the decisions, without a database."""

from __future__ import annotations

from services.job_tracker.jobs import Status
from services.job_tracker.projection import record_job_event
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CalendarReady, TodoDeleted
from shared.contracts.streams import render_stream_id, todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from tests.support.factories import (
    NOW,
    calendar_envelope,
    calendar_requested,
    cancel_envelope,
    revoked_envelope,
    task_of,
    todo_snapshots,
)
from tests.support.fakes import MemoryJobBook


def requested_and_ready() -> tuple[Envelope, Envelope]:
    requested = calendar_envelope(calendar_requested(todo_snapshots(3)))
    task_id = task_of(requested)
    ready = CalendarReady(task_id=task_id, blob_key="k", size_bytes=1, sha256="s", event_count=3)
    return requested, wrap(
        ready, stream_id=render_stream_id(task_id), stream_version=1, origin=ANONYMOUS_ORIGIN
    )


async def test_an_outcome_before_its_request_folds_to_the_same_job() -> None:
    book = MemoryJobBook()
    requested, ready = requested_and_ready()

    assert await record_job_event(ready, book)
    assert await record_job_event(requested, book)

    [job] = book.state.jobs.values()
    assert (job.status, job.todo_count, job.result_key) == (Status.SUCCESS, 3, "k")
    assert [envelope.type for envelope in book.state.log] == ["CalendarReady", "CalendarRequested"]


async def test_a_duplicate_delivery_changes_nothing() -> None:
    book = MemoryJobBook()
    requested, _ = requested_and_ready()
    assert await record_job_event(requested, book)
    before = (dict(book.state.jobs), list(book.state.log))

    assert not await record_job_event(requested, book)

    assert (book.state.jobs, book.state.log) == before


async def test_an_event_about_no_job_is_left_alone() -> None:
    book = MemoryJobBook()
    deleted = wrap(
        TodoDeleted(id=1, deleted_at=NOW),
        stream_id=todo_stream_id(1),
        stream_version=1,
        origin=ANONYMOUS_ORIGIN,
    )

    assert not await record_job_event(deleted, book)

    assert (book.state.jobs, book.state.log, book.state.handled) == ({}, [], set())


async def test_a_revocation_that_arrives_before_its_request_ends_revoked_and_stays_so() -> None:
    book = MemoryJobBook()
    requested, _ready = requested_and_ready()
    task_id = task_of(requested)
    for envelope in (revoked_envelope(task_id), cancel_envelope(task_id), requested):
        assert await record_job_event(envelope, book)

    job = book.state.jobs[task_id]
    assert (job.status, job.todo_count, job.result_key) == (Status.REVOKED, 3, None)


async def test_the_clients_cancel_alone_leaves_the_job_to_its_render() -> None:
    book = MemoryJobBook()
    requested, ready = requested_and_ready()
    task_id = task_of(requested)
    for envelope in (cancel_envelope(task_id), requested, ready):
        assert await record_job_event(envelope, book)

    assert book.state.jobs[task_id].status is Status.SUCCESS
