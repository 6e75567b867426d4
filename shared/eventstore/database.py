"""Engines and the versioned schema: PostgreSQL (asyncpg) or SQLite (on the event loop)."""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.eventstore import sqlite_on_loop
from shared.settings import Settings

logger = logging.getLogger(__name__)
# a request that cannot get an SQLite connection this soon answers 503 (SQLAlchemy waits 30 s)
POOL_TIMEOUT_S = 5.0
# the advisory lock's id, one for every service and schema in the database: creating tables is
# rare and quick, so serialising all of it costs nothing and needs no agreement on per-schema ids
SCHEMA_LOCK_ID = int.from_bytes(
    hashlib.sha256(b"taskoverflow.ensure_schema").digest()[:8], "big", signed=True
)
# SQLSTATE classes of a server that is there but cannot serve yet: connection exception,
# insufficient resources (too many connections), operator intervention (starting, shutting down)
UNREACHABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


class SchemaMismatchError(RuntimeError):
    """The database holds tables of another schema version than this code."""


class TablesMissingError(RuntimeError):
    """The owner's tables are not in the database (yet): a reader of them waits for the owner."""


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the service's engine; for SQLite also create the file's folder."""
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        return _sqlite_engine(url.database, settings)
    # asyncpg waits 60 s for a connection and forever for an answer, SQLAlchemy 30 s for a pooled
    # connection: a silent server would hang requests, where an outage must answer 503 soon
    silence_s = settings.database_timeout_ms / 1000
    connect_args: dict[str, Any] = {
        "timeout": settings.database_connect_timeout_ms / 1000,
        "command_timeout": silence_s,
    }
    if settings.database_schema:
        connect_args["server_settings"] = {"search_path": settings.database_schema}
    return create_async_engine(
        url,
        # opening a connection (TLS negotiation, authentication) costs more than a dozen queries:
        # the pool covers a service's usual concurrency (a consumer's handlers, a burst of status
        # polls) so that connections are not opened and closed per request
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=silence_s,
        # no ping per checkout (a round trip each time): a connection that died in an outage
        # fails its next statement, SQLAlchemy then replaces every connection of the pool
        pool_pre_ping=False,
        connect_args=connect_args,
    )


def _sqlite_engine(database: str | None, settings: Settings) -> AsyncEngine:
    path = database or ":memory:"
    creator = functools.partial(
        sqlite_on_loop.connect, path, synchronous=settings.sqlite_synchronous
    )
    url = f"{sqlite_on_loop.URL_SCHEME}:///{path}"
    if path == ":memory:":
        # one connection holds the whole database (StaticPool)
        return create_async_engine(url, creator=creator)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # statements run on the event loop: a local file answers faster than a thread hand-off.
    # Requests in flight at once each hold a connection for a moment: a pool as large as the
    # concurrency keeps them, where SQLAlchemy's default of 5 opened and closed one per status
    # poll under a burst (a new connection reads the file's schema again)
    return create_async_engine(
        url,
        creator=creator,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=POOL_TIMEOUT_S,
    )


async def ensure_schema(
    engine: AsyncEngine, metadata: MetaData, *, owner: str, version: int, schema: str | None
) -> None:
    """Create the owner's tables if missing and refuse a database of another version."""
    versions = _version_table(metadata, owner)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # replicas started together race on the catalogue's unique indexes (pg_namespace,
            # pg_type) even with IF NOT EXISTS. SQLite needs no lock: it is a file for one
            # process per service (embedded mode, a laptop), never shared by replicas
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": SCHEMA_LOCK_ID}
            )
        if schema:
            # an identifier cannot be a bound parameter; Settings restricts it to [a-z0-9_]
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(metadata.create_all)
        await conn.run_sync(_create_missing_indexes, metadata)
        found = (await conn.execute(select(versions.c.version))).scalar_one_or_none()
        if found is None:
            await conn.execute(versions.insert().values(version=version))
        elif found != version:
            raise SchemaMismatchError(
                f"{owner} tables are at schema version {found}, this code needs {version}; "
                "migrate or rebuild them from the event log"
            )


async def check_schema(
    engine: AsyncEngine, metadata: MetaData, *, owner: str, version: int
) -> None:
    """Refuse a database without the owner's tables at `version`, creating nothing: a reader of
    another process's tables (a mistyped schema, say) must not make empty ones and read them."""
    versions = _version_table(metadata, owner)
    async with engine.connect() as conn:
        # the version row is written in the transaction that creates the tables: both or neither
        there = await conn.run_sync(lambda sync: inspect(sync).has_table(versions.name))
        found = (await conn.execute(select(versions.c.version))).scalar() if there else None
    if found is None:
        raise TablesMissingError(f"{owner}'s tables are not there (yet)")
    if found != version:
        raise SchemaMismatchError(
            f"{owner} tables are at schema version {found}, this code reads version {version}"
        )


def _create_missing_indexes(conn: Connection, metadata: MetaData) -> None:
    """An index added to a table that already exists: create_all makes indexes only with their
    table, and an index changes no row, so it needs no new schema version."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _version_table(metadata: MetaData, owner: str) -> Table:
    name = f"{owner}_schema_version"
    if name in metadata.tables:
        return metadata.tables[name]
    return Table(name, metadata, Column("version", Integer, nullable=False))


def server_address(settings: Settings) -> str:
    """Where the database is, for a log line: host:port/name, never the credentials."""
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        return f"SQLite {url.database or ':memory:'}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def is_unreachable(exc: BaseException) -> bool:
    """Tell a database that is away (wait for it) from one that refuses us (a setup error)."""
    sqlstate = _sqlstate(exc)
    if sqlstate is not None:
        return sqlstate[:2] in UNREACHABLE_SQLSTATE_CLASSES
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError)


def _sqlstate(exc: BaseException | None) -> str | None:
    # SQLAlchemy wraps the driver's error, which carries the server's code (asyncpg: .sqlstate)
    while exc is not None:
        code = getattr(exc, "sqlstate", None) or getattr(
            getattr(exc, "orig", None), "sqlstate", None
        )
        if isinstance(code, str):
            return code
        exc = exc.__cause__
    return None
