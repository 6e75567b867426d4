"""The job changes port, one body for both adapters the tracker runs with: loopback datagrams
between the processes of a SQLite file, LISTEN/NOTIFY on PostgreSQL. A committed fold wakes the
watchers of its job, and only those; a rolled-back one wakes no one.

No absence is waited out: a second job's commit comes after, and a port delivers in commit order
(in the committing process at once, on PostgreSQL as the server delivers a channel's
notifications), so once the second job's watcher is woken the first one's would have come."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.job_tracker.file_job_changes import FileJobChanges
from services.job_tracker.job_changes import JobChanges
from services.job_tracker.jobs import Job
from services.job_tracker.pg_job_changes import (
    IDS_PER_NOTIFICATION,
    PgJobChanges,
    asyncpg_connect,
)
from services.job_tracker.records import Folded, SqlJobBook, SqlJobRecords
from services.job_tracker.tables import SCHEMA
from shared.app.resources import open_store
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.factories import revoked_envelope

WAIT_S = 10.0


class RolledBackError(Exception):
    pass


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    store = await open_store(database, SCHEMA)
    yield store
    await store.engine.dispose()


@pytest.fixture
async def changes(store: EventStore) -> AsyncIterator[JobChanges]:
    if store.engine.dialect.name != "postgresql":
        assert store.engine.url.database is not None
        shared = FileJobChanges(Path(store.engine.url.database))
        yield shared
        shared.close()
        return
    listening = await PgJobChanges.on(store.engine)
    listening.start()
    async with asyncio.timeout(WAIT_S):
        await listening.listening.wait()
    yield listening
    await listening.stop()


async def write_job(book: SqlJobBook, *task_ids: UUID) -> None:
    """One transaction that adds a job row for each id."""
    async with book.transaction() as records:
        for task_id in task_ids:
            folded = await records.fold_in(
                revoked_envelope(task_id), Job(task_id=task_id), new_row=True
            )
            assert folded is Folded.WRITTEN


async def write_then_fail(book: SqlJobBook, task_id: UUID) -> None:
    async with book.transaction() as records:
        folded = await records.fold_in(
            revoked_envelope(task_id), Job(task_id=task_id), new_row=True
        )
        assert folded is Folded.WRITTEN
        raise RolledBackError


async def test_a_committed_change_wakes_the_watchers_of_its_job_only(
    store: EventStore, changes: JobChanges
) -> None:
    book = SqlJobBook(store, changes)
    changed, untouched = uuid4(), uuid4()
    with changes.watching(changed) as woken, changes.watching(untouched) as quiet:
        await write_job(book, changed)

        assert await woken.wait(WAIT_S) is True
        assert await quiet.wait(0) is False


async def test_a_rolled_back_change_wakes_no_one(store: EventStore, changes: JobChanges) -> None:
    book = SqlJobBook(store, changes)
    rolled_back, committed = uuid4(), uuid4()
    with changes.watching(rolled_back) as never, changes.watching(committed) as later:
        with pytest.raises(RolledBackError):
            await write_then_fail(book, rolled_back)
        await write_job(book, committed)

        assert await later.wait(WAIT_S) is True
        assert await never.wait(0) is False


async def test_one_transaction_that_changes_several_jobs_wakes_the_watchers_of_each(
    store: EventStore, changes: JobChanges
) -> None:
    book = SqlJobBook(store, changes)
    first, second = uuid4(), uuid4()
    with changes.watching(first) as first_woken, changes.watching(second) as second_woken:
        await write_job(book, first, second)

        assert await first_woken.wait(WAIT_S) is True
        assert await second_woken.wait(WAIT_S) is True


async def heard_until(
    store: EventStore, listening: PgJobChanges, send: Callable[[], Awaitable[None]]
) -> list[str]:
    """The payloads heard on the channel while `send` commits, then a marker job's change."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg_connect(store.engine.url)()
    await listener.add_listener(listening.channel, lambda *args: heard.put_nowait(args[-1]))
    try:
        await send()
        # a second transaction's notification follows the first's: once it is heard, every
        # notification of the first has been
        marker = uuid4()
        await write_job(SqlJobBook(store, listening), marker)
        payloads: list[str] = []
        async with asyncio.timeout(WAIT_S):
            while not payloads or payloads[-1] != str(marker):
                payloads.append(await heard.get())
    finally:
        await listener.close()
    return payloads[:-1]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_on_postgresql_each_fold_notifies_the_job_row_it_wrote_in_its_statement(
    store: EventStore,
) -> None:
    listening = await PgJobChanges.on(store.engine)
    changed = [uuid4() for _ in range(3)]

    async def fold_three() -> None:
        async with SqlJobBook(store, listening).transaction() as records:
            for task_id in changed:
                job = Job(task_id=task_id)
                assert await records.fold_in(revoked_envelope(task_id), job, new_row=True) is (
                    Folded.WRITTEN
                )
            # told already: nothing is left for the transaction's own notification
            assert isinstance(records, SqlJobRecords)
            assert records.changed == records.notified == set(changed)

    notifications = await heard_until(store, listening, fold_three)

    assert sorted(notifications) == sorted(str(task_id) for task_id in changed)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.parametrize("jobs", [3, IDS_PER_NOTIFICATION + 1])
async def test_on_postgresql_a_transaction_tells_of_other_changes_a_hundred_jobs_at_a_time(
    store: EventStore, jobs: int
) -> None:
    listening = await PgJobChanges.on(store.engine)
    changed = [uuid4() for _ in range(jobs)]

    async def tell() -> None:
        async with store.transaction() as conn:
            await listening.changed_in(conn, changed)

    notifications = await heard_until(store, listening, tell)

    assert len(notifications) == -(-jobs // IDS_PER_NOTIFICATION)
    named = [name for payload in notifications for name in payload.split()]
    assert sorted(named) == sorted(str(task_id) for task_id in changed)
