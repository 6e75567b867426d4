"""Where the tests' PostgreSQL is, and whether a missing one skips (a laptop) or fails (CI)."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlparse

import asyncpg
import pytest

from shared.settings import Settings
from tests.support.threads import in_a_thread

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
# the database timeouts of every test process and service the tests start: beyond the stalls
# of a shared host, which otherwise answer 503 in a test about something else
STALLED_HOST_DATABASE_TIMEOUTS = {
    "DATABASE_TIMEOUT_MS": "30000",
    "DATABASE_CONNECT_TIMEOUT_MS": "30000",
}
# the services' own defaults, which the tests of database outages keep: they measure them
OUTAGE_DATABASE_TIMEOUTS = {
    name.upper(): str(Settings.model_fields[name].default)
    for name in ("database_timeout_ms", "database_connect_timeout_ms")
}


def postgres_reachable() -> bool:
    parsed = urlparse(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL on a laptop; fail in CI, where it must run."""
    if postgres_reachable():
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI and not reachable at {POSTGRES_URL}")
    pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")


@contextlib.asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """The name of a PostgreSQL schema to create tables in, dropped with them afterwards."""
    require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield name
    finally:
        conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()


@contextlib.contextmanager
def schema_for_processes(prefix: str = "e2e") -> Iterator[str]:
    """A PostgreSQL schema made before several processes open it (each would make it, and two
    making it at once collide), dropped with its tables afterwards; for a test whose thread runs
    no event loop of its own (a browser test's)."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    in_a_thread(_execute(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        in_a_thread(_execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


async def _execute(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
