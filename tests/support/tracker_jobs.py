"""The job tracker as its route tests use it: its app on a test server, jobs recorded through its
own fold at the times a test names, for the tenant a test names, and API keys as todo_api's
events bring them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.job_tracker.app import create_app
from services.job_tracker.app_keys import job_changes_key
from services.job_tracker.jobs import Job
from services.job_tracker.projection import record_job_event, record_key_event
from services.job_tracker.records import Folded, JobRecords, SqlJobBook
from services.job_tracker.tables import SCHEMA
from shared.app.app_keys import Adapters, blobs_key
from shared.app.resources import open_store
from shared.auth.api_keys import ApiKey, new_key, secret_hash
from shared.aws.blobs import BlobStore
from shared.clock import utcnow
from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    CalendarFailed,
    CalendarReady,
    CalendarRequested,
    CalendarRevoked,
    CalendarStarted,
)
from shared.contracts.streams import api_key_stream_id
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_TENANT, Origin, service_actor
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.factories import calendar_ready

Client = TestClient[web.Request, web.Application]
CalendarEvent = (
    CalendarRequested | CalendarStarted | CalendarReady | CalendarFailed | CalendarRevoked
)
Outcome = Literal["SUCCESS", "FAILURE", "STARTED", "PENDING"]
CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


@dataclass
class Tracker:
    client: Client
    store: EventStore
    settings: Settings
    # the ApiKeyRevoked of each key add_key made, by key id
    revocations: dict[str, Envelope] = field(default_factory=dict)

    @property
    def blobs(self) -> BlobStore:
        return self.client.app[blobs_key]

    async def record(
        self, event: CalendarEvent, at: datetime, tenant: str = ANONYMOUS_TENANT
    ) -> None:
        """Fold `event` in as delivered, recorded at `at`, in `tenant`'s job."""
        task_id = event.task_id
        envelope = wrap(
            event,
            stream_id=f"{event.type}-{task_id}",
            stream_version=1,
            correlation_id=task_id,
            origin=Origin(tenant=tenant, actor=service_actor("test")),
        )
        await record_job_event(envelope.model_copy(update={"occurred_at": at}), self.book)

    @property
    def book(self) -> SqlJobBook:
        """The tracker's records as its own fold writes them, telling its event streams."""
        return SqlJobBook(self.store, self.client.app[job_changes_key])

    async def add_job(
        self,
        requested_at: datetime,
        outcome: Outcome = "SUCCESS",
        *,
        finished_at: datetime | None = None,
        todo_count: int = 2,
        stored: bool = True,
        tenant: str = ANONYMOUS_TENANT,
    ) -> UUID:
        """`tenant`'s job requested at `requested_at` and, for SUCCESS or FAILURE, finished at
        `finished_at` (default: the request time); a SUCCESS's file is `stored` or not."""
        task_id = issue_task_id(self.settings.task_secret, tenant)
        requested = CalendarRequested(
            task_id=task_id, requested_at=requested_at, todo_count=todo_count, todos=()
        )
        await self.record(requested, requested_at, tenant)
        done_at = finished_at or requested_at
        if outcome == "STARTED":
            await self.record(CalendarStarted(task_id=task_id, attempt=1), done_at, tenant)
        elif outcome == "FAILURE":
            failed = CalendarFailed(task_id=task_id, reason="the snapshot was lost", attempts=2)
            await self.record(failed, done_at, tenant)
        elif outcome == "SUCCESS":
            ready = calendar_ready(task_id, size_bytes=len(CALENDAR))
            if stored:
                await self.blobs.put(ready.blob_key, CALENDAR, "text/calendar")
            await self.record(ready, done_at, tenant)
        return task_id

    async def add_key(self, tenant: str, roles: tuple[str, ...] = ("member",)) -> ApiKey:
        """A key for `tenant`, as its ApiKeyIssued event from todo_api brings it."""
        events = key_events(tenant, roles)
        await self.deliver_key_event(events.issued)
        self.revocations[events.key.key_id] = events.revoked
        return events.key

    async def revoke_key(self, key: ApiKey) -> None:
        """Revoke a key `add_key` made, as its ApiKeyRevoked event from todo_api does."""
        await self.deliver_key_event(self.revocations[key.key_id])

    async def deliver_key_event(self, envelope: Envelope) -> None:
        # False: the tracker's own consumer got it first (todo_api's relay published it to the
        # test's topic): folded all the same
        await record_key_event(envelope, SqlJobBook(self.store))


@dataclass(frozen=True)
class KeyEvents:
    """A key and its two events, as todo_api stores and publishes them."""

    key: ApiKey
    issued: Envelope
    revoked: Envelope


def key_events(tenant: str, roles: tuple[str, ...] = ("member",)) -> KeyEvents:
    key = new_key()
    issued = ApiKeyIssued(
        key_id=key.key_id,
        tenant=tenant,
        roles=roles,
        label="test key",
        secret_sha256=secret_hash(key.secret),
        issued_by="operator:test",
        issued_at=utcnow(),
    )
    revoked = ApiKeyRevoked(key_id=key.key_id, revoked_by="operator:test", revoked_at=utcnow())
    stream, origin = api_key_stream_id(key.key_id), Origin(tenant=tenant, actor="operator:test")
    return KeyEvents(
        key,
        wrap(issued, stream_id=stream, stream_version=1, origin=origin),
        wrap(revoked, stream_id=stream, stream_version=2, origin=origin),
    )


@contextlib.asynccontextmanager
async def running_tracker(
    settings: Settings, blobs: BlobStore | None = None
) -> AsyncIterator[Tracker]:
    """The tracker's app on `settings`' database; its blob store is `blobs`, or (None) the one
    its settings choose (S3 on the test's AWS endpoint)."""
    store = await open_store(settings, SCHEMA)
    app = create_app(settings, adapters=Adapters(store=store, blobs=blobs))
    try:
        async with TestClient(TestServer(app)) as client:
            yield Tracker(client, store, settings)
    finally:
        await store.engine.dispose()


# the step of a job event's or a key event's transaction after which a ParkedBook waits
ParkedAfter = Literal["record_key"]


class ParkedBook:
    """The tracker's records, parked after `after` in each transaction, before its commit, until
    `meanwhile` is done: another transaction's moment, made to fall exactly there."""

    def __init__(
        self, book: SqlJobBook, meanwhile: Callable[[], Awaitable[None]], after: ParkedAfter
    ) -> None:
        self._book, self._meanwhile, self._after = book, meanwhile, after

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobRecords]:
        async with self._book.transaction() as records:
            yield ParkedRecords(records, self._meanwhile, self._after)


@dataclass
class ParkedRecords:
    records: JobRecords
    meanwhile: Callable[[], Awaitable[None]]
    after: ParkedAfter

    async def mark_handled_if_new(self, event_id: UUID) -> bool:
        return await self.records.mark_handled_if_new(event_id)

    async def append_to_log(self, envelope: Envelope) -> None:
        await self.records.append_to_log(envelope)

    async def locked_job(self, task_id: UUID) -> Job | None:
        return await self.records.locked_job(task_id)

    async def fold_in(self, envelope: Envelope, job: Job, *, new_row: bool) -> Folded:
        return await self.records.fold_in(envelope, job, new_row=new_row)

    async def replace(self, job: Job) -> None:
        await self.records.replace(job)

    async def record_key(self, envelope: Envelope) -> None:
        await self.records.record_key(envelope)
        await self._parked("record_key")

    async def _parked(self, step: ParkedAfter) -> None:
        if step == self.after:
            await self.meanwhile()


class MeetingBook:
    """The tracker's records, each transaction waiting after its first locked read until as many
    others as `meeting` counts have read too (for at most `timeout_s`, when given: a read that
    waits for another's row lock cannot meet it)."""

    def __init__(
        self, book: SqlJobBook, meeting: asyncio.Barrier, timeout_s: float | None = None
    ) -> None:
        self._book, self._meeting, self._timeout_s = book, meeting, timeout_s

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobRecords]:
        async with self._book.transaction() as records:
            yield MeetingRecords(records, self._meeting, self._timeout_s)  # type: ignore[misc]


@dataclass
class MeetingRecords:
    records: JobRecords
    meeting: asyncio.Barrier
    timeout_s: float | None
    _met: bool = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.records, name)

    async def locked_job(self, task_id: UUID) -> Job | None:
        job = await self.records.locked_job(task_id)
        if not self._met:
            self._met = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.timeout_s):
                    await self.meeting.wait()
        return job
