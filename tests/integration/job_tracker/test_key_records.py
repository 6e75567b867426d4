"""The API keys at the job tracker (PostgreSQL, where two deliveries run at once): a key's issue
and its revoke recorded side by side leave the key revoked, whichever commits first."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID

from services.job_tracker.jobs import Job
from services.job_tracker.projection import record_key_event
from services.job_tracker.records import JobBook, JobRecords, SqlJobBook
from services.job_tracker.tables import SCHEMA, api_keys
from shared.auth.key_directory import SqlKeyDirectory
from shared.contracts.envelope import Envelope
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.stores import service_store, until_blocked_or_done
from tests.support.tracker_jobs import key_events


class ParkedAfterKey:
    """The tracker's records, parked after a key's row is written and before the commit, until
    `meanwhile` is done."""

    def __init__(self, book: JobBook, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self._book, self._meanwhile = book, meanwhile

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[JobRecords]:
        async with self._book.transaction() as records:
            yield ParkedRecords(records, self._meanwhile)


@dataclasses.dataclass
class ParkedRecords:
    records: JobRecords
    meanwhile: Callable[[], Awaitable[None]]

    async def mark_handled_if_new(self, event_id: UUID) -> bool:
        return await self.records.mark_handled_if_new(event_id)

    async def append_to_log(self, envelope: Envelope) -> None:
        await self.records.append_to_log(envelope)

    async def locked_job(self, task_id: UUID) -> Job | None:
        return await self.records.locked_job(task_id)

    async def add(self, job: Job) -> bool:
        return await self.records.add(job)

    async def replace(self, job: Job) -> None:
        await self.records.replace(job)

    async def record_key(self, envelope: Envelope) -> None:
        await self.records.record_key(envelope)
        await self.meanwhile()


async def test_a_revoke_recorded_while_its_issue_commits_leaves_the_key_revoked(
    postgres_schema: str,
) -> None:
    settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema)
    events = key_events("acme")
    async with service_store(settings, SCHEMA) as store:
        book = SqlJobBook(store)
        revoking: list[asyncio.Task[bool]] = []

        async def revoke_meanwhile() -> None:
            # the issue's row is written, uncommitted: the revoke must wait for it, not miss it
            revoking.append(asyncio.create_task(record_key_event(events.revoked, book)))
            await until_blocked_or_done(store.engine, postgres_schema, revoking[0])

        assert await record_key_event(events.issued, ParkedAfterKey(book, revoke_meanwhile))
        assert await revoking[0]
        found = await SqlKeyDirectory(store, api_keys).find(events.key.key_id)

    assert found is not None
    assert found.revoked_at is not None
