"""A job_tracker database of schema version 1 or 2 is upgraded when the tracker starts: its jobs
get their finished_at from the tracker's own log, and become the anonymous tenant's, and the
history its indexes per tenant; the API keys table is made (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Column, Index, MetaData, Table, insert, inspect, select

from services.job_tracker.app import create_app
from services.job_tracker.jobs import Job, Status
from services.job_tracker.records import job_values
from services.job_tracker.tables import OWNER, SCHEMA, api_keys, jobs
from services.job_tracker.upgrade import (
    NEW_COLUMNS,
    TENANT_COLUMNS,
    VERSION_2_INDEXES,
    upgrade,
    upgrade_database,
)
from shared.contracts.envelope import wrap
from shared.contracts.streams import render_stream_id
from shared.contracts.task_ids import issue_task_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN, ANONYMOUS_TENANT
from shared.eventstore.database import create_engine, ensure_schema
from shared.eventstore.store import EventStore, store_tables
from shared.settings import Settings
from tests.support.factories import calendar_ready
from tests.support.stores import service_store

READY_AT = datetime(2030, 1, 2, 3, 4, 5)
WRITTEN_AT = datetime(2030, 1, 3)


def older_jobs(metadata: MetaData, added_since: tuple[str, ...]) -> Table:
    """The jobs table without the columns added since."""
    columns = [
        Column(column.name, column.type, primary_key=column.primary_key, nullable=column.nullable)
        for column in jobs.columns
        if column.name not in added_since
    ]
    return Table(jobs.name, metadata, *columns)


def version_one_jobs(metadata: MetaData) -> Table:
    """The jobs table as version 1 of the schema defined it."""
    return older_jobs(metadata, NEW_COLUMNS + TENANT_COLUMNS)


async def make_version_one(settings: Settings, *found: Job) -> None:
    """A version 1 database holding the `found` jobs; the first one's outcome is in the log."""
    metadata = MetaData()
    tables = store_tables(metadata, OWNER)
    old_jobs = version_one_jobs(metadata)
    engine = create_engine(settings)
    try:
        await ensure_schema(
            engine, metadata, owner=OWNER, version=1, schema=settings.database_schema
        )
        store = EventStore(engine, tables)
        ready = wrap(
            calendar_ready(found[0].task_id),
            stream_id=render_stream_id(found[0].task_id),
            stream_version=1,
            correlation_id=found[0].task_id,
            origin=ANONYMOUS_ORIGIN,
        )
        async with store.transaction() as conn:
            await store.insert(
                conn, [ready.model_copy(update={"occurred_at": READY_AT})], publish=False
            )
            rows = [_version_one_row(job) for job in found]
            await conn.execute(insert(old_jobs), rows)
    finally:
        await engine.dispose()


def _version_one_row(job: Job) -> dict[str, object]:
    row = job_values(job, WRITTEN_AT)
    return {name: value for name, value in row.items() if name not in NEW_COLUMNS + TENANT_COLUMNS}


def issued(settings: Settings) -> UUID:
    return issue_task_id(settings.task_secret, ANONYMOUS_TENANT)


async def test_the_tracker_starts_on_a_version_one_database_and_dates_its_finished_jobs(
    service_settings: Settings,
) -> None:
    logged, unlogged, running = (issued(service_settings) for _ in range(3))
    await make_version_one(
        service_settings,
        Job(task_id=logged, status=Status.SUCCESS, requested_at=READY_AT - timedelta(minutes=1)),
        Job(task_id=unlogged, status=Status.FAILURE, error="boom", requested_at=READY_AT),
        Job(
            task_id=running,
            status=Status.STARTED,
            attempt=1,
            requested_at=READY_AT + timedelta(minutes=1),
        ),
    )

    async with TestClient(TestServer(create_app(service_settings))) as client:
        status = await client.get(f"/api/v1/todos/ical/{logged}/status")
        history = await client.get("/api/v1/todos/ical")
        assert status.status == 200
        assert (await status.json())["task_status"] == "SUCCESS"
        listed = [job["task_id"] for job in (await history.json())["jobs"]]
        assert listed == [str(running), str(unlogged), str(logged)]

    async with service_store(service_settings, SCHEMA) as store, store.engine.connect() as conn:
        rows = (await conn.execute(select(jobs.c.task_id, jobs.c.finished_at))).all()
        indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes(jobs.name))
    assert dict(rows) == {str(logged): READY_AT, str(unlogged): WRITTEN_AT, str(running): None}
    assert {index["name"] for index in indexes} >= {index.name for index in jobs.indexes}


async def test_an_upgraded_or_empty_database_is_left_alone(database: Settings) -> None:
    engine = create_engine(database)
    try:
        on_empty = await upgrade(engine)
        async with service_store(database, SCHEMA):
            pass
        on_current = await upgrade(engine)
    finally:
        await engine.dispose()

    assert (on_empty, on_current) == (False, False)


async def test_upgrading_twice_is_harmless(database: Settings) -> None:
    task_id = issued(database)
    await make_version_one(database, Job(task_id=task_id, status=Status.SUCCESS))

    await upgrade_database(database)
    await upgrade_database(database)

    async with service_store(database, SCHEMA) as store, store.engine.connect() as conn:
        finished_at = (await conn.execute(select(jobs.c.finished_at))).scalar_one()
    assert finished_at == READY_AT


async def make_version_two(settings: Settings, *found: Job) -> None:
    """A version 2 database holding the `found` jobs: no tenants, the history's indexes over all
    jobs, no keys table."""
    metadata = MetaData()
    for table in SCHEMA.metadata.sorted_tables:
        if table.name not in (jobs.name, api_keys.name):
            table.to_metadata(metadata)
    old_jobs = older_jobs(metadata, TENANT_COLUMNS)
    requested, state_requested = VERSION_2_INDEXES
    Index(requested, old_jobs.c.requested_at, old_jobs.c.task_id)
    Index(state_requested, old_jobs.c.status, old_jobs.c.requested_at, old_jobs.c.task_id)
    engine = create_engine(settings)
    try:
        await ensure_schema(
            engine, metadata, owner=OWNER, version=2, schema=settings.database_schema
        )
        async with engine.begin() as conn:
            rows = [_version_two_row(job) for job in found]
            await conn.execute(insert(old_jobs), rows)
    finally:
        await engine.dispose()


def _version_two_row(job: Job) -> dict[str, object]:
    row = job_values(job, WRITTEN_AT)
    return {name: value for name, value in row.items() if name not in TENANT_COLUMNS}


async def test_a_version_two_databases_jobs_become_the_anonymous_tenants(
    service_settings: Settings,
) -> None:
    older, newer = issued(service_settings), issued(service_settings)
    await make_version_two(
        service_settings,
        Job(task_id=older, status=Status.SUCCESS, requested_at=READY_AT, finished_at=READY_AT),
        Job(task_id=newer, status=Status.STARTED, attempt=1, requested_at=WRITTEN_AT),
    )

    async with TestClient(TestServer(create_app(service_settings))) as client:
        status = await client.get(f"/api/v1/todos/ical/{older}/status")
        history = await client.get("/api/v1/todos/ical")
        assert (await status.json())["task_status"] == "SUCCESS"
        listed = [job["task_id"] for job in (await history.json())["jobs"]]
        assert listed == [str(newer), str(older)]

    async with service_store(service_settings, SCHEMA) as store, store.engine.connect() as conn:
        tenants = (await conn.execute(select(jobs.c.tenant))).scalars().all()
        indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes(jobs.name))
        has_keys = await conn.run_sync(lambda sync: inspect(sync).has_table(api_keys.name))
    names = {index["name"] for index in indexes}
    assert tenants == ["anonymous", "anonymous"]
    assert names >= {index.name for index in jobs.indexes}
    assert not names & set(VERSION_2_INDEXES)
    assert has_keys
