"""The API keys at the job tracker (PostgreSQL, where two deliveries run at once): a key's issue
and its revoke recorded side by side leave the key revoked, whichever commits first."""

from __future__ import annotations

import asyncio

from services.job_tracker.projection import record_key_event
from services.job_tracker.records import SqlJobBook
from services.job_tracker.tables import SCHEMA, api_keys
from shared.auth.key_directory import SqlKeyDirectory
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.stores import service_store, until_blocked_or_done
from tests.support.tracker_jobs import ParkedBook, key_events


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

        assert await record_key_event(
            events.issued, ParkedBook(book, revoke_meanwhile, after="record_key")
        )
        assert await revoking[0]
        found = await SqlKeyDirectory(store, api_keys).find(events.key.key_id)

    assert found is not None
    assert found.revoked_at is not None
