"""A silent PostgreSQL is given up on after DATABASE_TIMEOUT_MS (a statement) and
DATABASE_CONNECT_TIMEOUT_MS (a new connection), whatever those are set to: the services' 503
comes from them, and the tests raise both beyond a shared host's stalls."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventstore.database import create_engine
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL, require_postgres
from tests.support.faults import FaultProxy, proxied_url, target_of

SHORT_MS = 300
# far above SHORT_MS (a stalled host, SQLAlchemy closing the dead connection: up to 2 s) and far
# below the other timeout the engine has, the tests' (30 s, checked below): a failure within
# them was the setting's
STATEMENT_GIVEN_UP_WITHIN_S = 15.0
CONNECT_GIVEN_UP_WITHIN_S = 15.0


@pytest.fixture
def database() -> Iterator[FaultProxy]:
    require_postgres()
    with FaultProxy(*target_of(POSTGRES_URL)) as proxy:
        yield proxy


def engine_through(proxy: FaultProxy, **timeouts: int) -> AsyncEngine:
    settings = Settings(database_url=proxied_url(POSTGRES_URL, proxy))
    return create_engine(settings.model_copy(update=timeouts))


async def seconds_to_fail(engine: AsyncEngine) -> float:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    return time.monotonic() - started


async def test_an_unanswered_statement_is_given_up_on_after_the_database_timeout(
    database: FaultProxy,
) -> None:
    engine = engine_through(database, database_timeout_ms=SHORT_MS)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
        database.stall()
        assert await seconds_to_fail(engine) < STATEMENT_GIVEN_UP_WITHIN_S
    finally:
        database.unblock()
        await engine.dispose()


async def test_a_connection_that_does_not_open_is_given_up_on_after_the_connect_timeout(
    database: FaultProxy,
) -> None:
    database.stall()
    engine = engine_through(database, database_connect_timeout_ms=SHORT_MS)
    try:
        assert await seconds_to_fail(engine) < CONNECT_GIVEN_UP_WITHIN_S
    finally:
        database.unblock()
        await engine.dispose()


def test_the_tests_wait_longer_than_the_services_by_default() -> None:
    settings = Settings()
    defaults = Settings.model_fields
    assert settings.database_timeout_ms > 5 * defaults["database_timeout_ms"].default
    assert (
        settings.database_connect_timeout_ms > 5 * defaults["database_connect_timeout_ms"].default
    )


def test_without_the_setting_the_engine_would_wait_well_beyond_the_bounds() -> None:
    settings = Settings()
    given_up_within_s = max(STATEMENT_GIVEN_UP_WITHIN_S, CONNECT_GIVEN_UP_WITHIN_S)
    assert settings.database_timeout_ms / 1000 >= 2 * given_up_within_s
    assert settings.database_connect_timeout_ms / 1000 >= 2 * given_up_within_s
