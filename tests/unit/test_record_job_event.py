"""record_job_event on the in-memory records (tests/support/fakes.py, held to the database's by
tests/integration/job_tracker/test_job_book_contract.py): the decisions, without a database."""

from __future__ import annotations

from services.job_tracker.fold_groups import make_handle
from services.job_tracker.jobs import Status
from services.job_tracker.projection import JobFold, record_job_event, record_key_event
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import ApiKeyIssued, ApiKeyRevoked, CalendarReady, TodoDeleted
from shared.contracts.streams import api_key_stream_id, render_stream_id, todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, Origin
from tests.support.factories import (
    NOW,
    calendar_envelope,
    calendar_requested,
    cancel_envelope,
    delivery,
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


def for_tenant(envelope: Envelope, tenant: str) -> Envelope:
    return envelope.model_copy(update={"tenant": tenant})


class TestTenants:
    async def test_a_job_is_its_requests_tenants(self) -> None:
        book = MemoryJobBook()
        requested, ready = requested_and_ready()

        await record_job_event(for_tenant(requested, "acme"), book)
        await record_job_event(for_tenant(ready, "acme"), book)

        [job] = book.state.jobs.values()
        assert job.tenant == "acme"

    async def test_an_outcome_first_names_the_tenant_and_its_request_has_the_last_word(
        self,
    ) -> None:
        book = MemoryJobBook()
        requested, ready = requested_and_ready()

        await record_job_event(for_tenant(ready, "acme"), book)
        early = next(iter(book.state.jobs.values())).tenant
        await record_job_event(for_tenant(requested, "globex"), book)

        [job] = book.state.jobs.values()
        assert (early, job.tenant) == ("acme", "globex")

    async def test_a_rebuild_folds_the_same_tenant(self) -> None:
        book, fold = MemoryJobBook(), JobFold()
        requested, ready = requested_and_ready()
        for envelope in (for_tenant(ready, "acme"), for_tenant(requested, "acme")):
            await record_job_event(envelope, book)
            fold.apply(envelope)

        assert fold.jobs == book.state.jobs


class TestKeyEvents:
    async def test_an_issued_then_revoked_key_is_kept_revoked_and_logged(self) -> None:
        book = MemoryJobBook()
        issued, revoked = key_events("abcd1234")
        handle = make_handle(book)

        await handle(issued, delivery())
        await handle(revoked, delivery())
        await handle(revoked, delivery())

        assert book.state.keys["abcd1234"]["revoked_at"] == NOW
        assert book.state.keys["abcd1234"]["tenant"] == "acme"
        assert [envelope.type for envelope in book.state.log] == ["ApiKeyIssued", "ApiKeyRevoked"]
        assert book.state.jobs == {}

    async def test_a_revoke_that_arrives_before_its_issue_still_revokes_the_key(self) -> None:
        book = MemoryJobBook()
        issued, revoked = key_events("abcd1234")

        assert await record_key_event(revoked, book)
        assert book.state.keys == {}
        assert await record_key_event(issued, book)

        assert book.state.keys["abcd1234"]["revoked_at"] == NOW

    async def test_a_duplicate_key_event_is_not_recorded_twice(self) -> None:
        book = MemoryJobBook()
        issued, _ = key_events("abcd1234")

        assert await record_key_event(issued, book)
        assert not await record_key_event(issued, book)


def key_events(key_id: str) -> tuple[Envelope, Envelope]:
    origin = Origin(tenant="acme", actor="operator:test")
    issued = ApiKeyIssued(
        key_id=key_id,
        tenant="acme",
        roles=("member",),
        label="x",
        secret_sha256="0" * 64,
        issued_by="operator:test",
        issued_at=NOW,
    )
    revoked = ApiKeyRevoked(key_id=key_id, revoked_by="operator:test", revoked_at=NOW)
    stream = api_key_stream_id(key_id)
    return (
        wrap(issued, stream_id=stream, stream_version=1, origin=origin),
        wrap(revoked, stream_id=stream, stream_version=2, origin=origin),
    )
