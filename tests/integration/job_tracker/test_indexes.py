"""The operations page's queries on the jobs table have their indexes (SQLite, PostgreSQL): on a
new database, and on one made before them, which gets them when the tracker starts; a tenant's
history reads an index that begins with the tenant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, inspect, text

from services.job_tracker.app import create_app as create_tracker
from services.job_tracker.history import HistoryQuery, Position, history_page
from services.job_tracker.in_flight import count_in_flight
from services.job_tracker.jobs import Status
from services.job_tracker.overview import jobs_overview
from services.job_tracker.tables import SCHEMA, jobs
from shared.eventstore.database import create_engine
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.stores import service_store

# the latest jobs by their last change; the latest failures by when they failed (and the
# throughput's finished jobs per bucket, on the same index)
OVERVIEW_INDEXES = {"ix_job_tracker_jobs_updated", "ix_job_tracker_jobs_state_finished"}


async def index_names(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda sync: inspect(sync).get_indexes(jobs.name))
    finally:
        await engine.dispose()
    return {str(index["name"]) for index in found}


async def drop_indexes(settings: Settings, names: set[str]) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            for name in sorted(names):
                await conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    finally:
        await engine.dispose()


async def start_tracker(settings: Settings) -> None:
    async with TestClient(TestServer(create_tracker(settings))) as client:
        assert (await client.get("/api/v1/health")).status == 200


async def test_a_new_database_has_the_overview_indexes(database: Settings) -> None:
    await start_tracker(database)

    assert await index_names(database) >= OVERVIEW_INDEXES


async def test_a_database_made_before_them_gets_them_at_start(database: Settings) -> None:
    # the tables as an earlier release left them: same schema version, without these indexes
    async with service_store(database, SCHEMA):
        pass
    await drop_indexes(database, OVERVIEW_INDEXES)
    assert not OVERVIEW_INDEXES & await index_names(database)

    await start_tracker(database)

    assert await index_names(database) >= OVERVIEW_INDEXES


async def test_sqlite_answers_every_overview_query_from_an_index(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/tracker.db")
    async with service_store(settings, SCHEMA) as store:
        statements = await statements_of_the_overview(store)
        async with store.reading() as conn:
            for statement, parameters in statements:
                plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                details = [str(row[-1]) for row in plan.all()]
                # no pass over every row, and no sort of them for ORDER BY ... LIMIT
                assert f"SCAN {jobs.name}" not in details, (statement, details)
                assert "USE TEMP B-TREE FOR ORDER BY" not in details, (statement, details)


async def statements_of_the_overview(store: EventStore) -> list[tuple[str, Any]]:
    """The SELECTs jobs_overview sends, with their parameters."""
    return await statements_of(store, jobs_overview)


async def test_sqlite_answers_a_tenants_history_from_an_index(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/tracker.db")
    after = Position(datetime(2030, 1, 1), str(uuid4()))
    queries = [HistoryQuery(), HistoryQuery(state=Status.SUCCESS, after=after)]
    async with service_store(settings, SCHEMA) as store:
        for query in queries:
            [(statement, parameters)] = await statements_of(store, history_of("acme", query))
            async with store.reading() as conn:
                plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                details = [str(row[-1]) for row in plan.all()]
            # the tenant's rows in order from an index that begins with the tenant
            assert any("ix_job_tracker_jobs_tenant_" in line for line in details), details
            assert f"SCAN {jobs.name}" not in details, (statement, details)
            assert "USE TEMP B-TREE FOR ORDER BY" not in details, (statement, details)


async def test_sqlite_counts_a_tenants_jobs_in_flight_from_an_index(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/tracker.db")
    async with service_store(settings, SCHEMA) as store:
        [(statement, parameters)] = await statements_of(
            store, lambda store: count_in_flight(store, "acme")
        )
        async with store.reading() as conn:
            plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = [str(row[-1]) for row in plan.all()]
    # the tenant's open states, each a range of the index of (tenant, status, ...)
    assert any("ix_job_tracker_jobs_tenant_state_requested" in line for line in details), details
    assert f"SCAN {jobs.name}" not in details, (statement, details)


def history_of(tenant: str, query: HistoryQuery) -> Callable[[EventStore], Awaitable[object]]:
    async def read(store: EventStore) -> object:
        async with store.reading() as conn:
            return await history_page(conn, tenant, query)

    return read


async def statements_of(
    store: EventStore, reads: Callable[[EventStore], Awaitable[object]]
) -> list[tuple[str, Any]]:
    """The SELECTs `reads` sends on the jobs table, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        _conn, _cursor, statement, parameters = args[:4]
        sent.append((statement, parameters))

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await reads(store)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return [(statement, parameters) for statement, parameters in sent if jobs.name in statement]
