"""A service's database at start: replicas creating tables together, a server not there yet."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from sqlalchemy import select

from services.calendar_worker.tables import SCHEMA as WORKER_SCHEMA
from services.job_tracker.tables import SCHEMA as TRACKER_SCHEMA
from services.todo_api.tables import SCHEMA as API_SCHEMA
from shared.app.resources import ServiceSchema, open_store
from shared.eventstore.database import (
    SchemaMismatchError,
    create_engine,
    ensure_schema,
    is_unreachable,
)
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL, require_postgres
from tests.support.faults import FaultProxy, proxied_url, target_of
from tests.support.polling import eventually

SERVICES = (API_SCHEMA, WORKER_SCHEMA, TRACKER_SCHEMA)
# without the advisory lock, a handful of rounds is enough to hit a catalogue conflict
ROUNDS = 20
REPLICAS = 2
# waited for: the refused attempts of a host that may stall for seconds
OUTAGE_WAIT_S = 30


@pytest.fixture
async def schema_names() -> AsyncIterator[list[str]]:
    """Unique schema names the test may create; all of them are dropped afterwards."""
    require_postgres()
    names: list[str] = []
    yield names
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        for name in names:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def create_as_replica(schema: ServiceSchema, database_schema: str) -> None:
    """One process's start: its own engine, creating its service's tables."""
    engine = create_engine(Settings(database_url=POSTGRES_URL, database_schema=database_schema))
    try:
        await ensure_schema(
            engine,
            schema.metadata,
            owner=schema.owner,
            version=schema.version,
            schema=database_schema,
        )
    finally:
        await engine.dispose()


async def create_schema(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()


class TestReplicasStartingTogether:
    # a new schema races on pg_namespace first; an existing one (a deployment's) on pg_type
    @pytest.mark.parametrize("schema_exists", [False, True], ids=["new-schema", "schema-exists"])
    async def test_every_service_and_replica_creates_its_tables_without_a_conflict(
        self, schema_names: list[str], schema_exists: bool
    ) -> None:
        for _ in range(ROUNDS):
            name = f"t_{uuid.uuid4().hex[:16]}"
            schema_names.append(name)
            if schema_exists:
                await create_schema(name)
            starts = [create_as_replica(s, name) for s in SERVICES for _ in range(REPLICAS)]

            outcomes = await asyncio.gather(*starts, return_exceptions=True)

            assert [o for o in outcomes if o is not None] == [], name

    async def test_the_tables_exist_once_with_one_version_row_each(
        self, schema_names: list[str]
    ) -> None:
        name = f"t_{uuid.uuid4().hex[:16]}"
        schema_names.append(name)
        await asyncio.gather(*(create_as_replica(s, name) for s in SERVICES for _ in range(3)))

        settings = Settings(database_url=POSTGRES_URL, database_schema=name)
        store = await open_store(settings, API_SCHEMA)
        try:
            versions = API_SCHEMA.metadata.tables[f"{API_SCHEMA.owner}_schema_version"]
            async with store.engine.connect() as conn:
                rows = (await conn.execute(select(versions.c.version))).scalars().all()
        finally:
            await store.engine.dispose()
        assert rows == [API_SCHEMA.version]


@pytest.fixture
def database_proxy() -> Iterator[FaultProxy]:
    require_postgres()
    with FaultProxy(*target_of(POSTGRES_URL)) as proxy:
        yield proxy


class TestOpenStore:
    async def test_waits_for_a_database_that_is_not_there_yet(
        self,
        database_proxy: FaultProxy,
        postgres_schema: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        url = proxied_url(POSTGRES_URL, database_proxy)
        settings = Settings(database_url=url, database_schema=postgres_schema)
        database_proxy.block()
        caplog.set_level(logging.WARNING, logger="shared.retry")

        opening = asyncio.create_task(open_store(settings, TRACKER_SCHEMA))

        def waits() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

        async def refused_twice() -> bool:
            return database_proxy.refused >= 2 and len(waits()) >= 2

        await eventually(refused_twice, timeout_s=OUTAGE_WAIT_S)
        assert not opening.done()
        database_proxy.unblock()
        store = await asyncio.wait_for(opening, timeout=OUTAGE_WAIT_S)
        await store.engine.dispose()

        assert all(f"PostgreSQL at {database_proxy.address}/test" in w for w in waits()), waits()
        assert database_proxy.refused >= 2, database_proxy

    async def test_a_stop_while_waiting_cancels_the_wait(self, database_proxy: FaultProxy) -> None:
        database_proxy.block()
        settings = Settings(database_url=proxied_url(POSTGRES_URL, database_proxy))
        opening = asyncio.create_task(open_store(settings, TRACKER_SCHEMA))
        await asyncio.sleep(0.5)

        opening.cancel()

        with pytest.raises(asyncio.CancelledError):
            await opening

    async def test_refuses_an_unknown_database_at_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        require_postgres()
        missing = POSTGRES_URL.rsplit("/", 1)[0] + f"/missing_{uuid.uuid4().hex[:8]}"

        with pytest.raises(Exception, match="does not exist") as raised:
            await asyncio.wait_for(open_store(Settings(database_url=missing), API_SCHEMA), 10)

        assert not is_unreachable(raised.value)
        assert [r.levelname for r in caplog.records if r.name == "shared.retry"] == ["ERROR"]

    async def test_refuses_an_unknown_role_at_once(self) -> None:
        require_postgres()
        stranger = POSTGRES_URL.replace("//postgres@", f"//nobody_{uuid.uuid4().hex[:8]}@")
        assert stranger != POSTGRES_URL

        with pytest.raises(Exception, match="role") as raised:
            await asyncio.wait_for(open_store(Settings(database_url=stranger), API_SCHEMA), 10)

        assert not is_unreachable(raised.value)

    async def test_refuses_tables_of_another_version_at_once(self, postgres_schema: str) -> None:
        settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema)
        store = await open_store(settings, API_SCHEMA)
        await store.engine.dispose()
        newer = ServiceSchema(
            owner=API_SCHEMA.owner,
            version=API_SCHEMA.version + 1,
            metadata=API_SCHEMA.metadata,
            store=API_SCHEMA.store,
        )

        with pytest.raises(SchemaMismatchError):
            await asyncio.wait_for(open_store(settings, newer), 10)
