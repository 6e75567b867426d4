"""Where the tests' PostgreSQL is, and whether a missing one skips (a laptop) or fails (CI)."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import asyncpg
import pytest

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


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
