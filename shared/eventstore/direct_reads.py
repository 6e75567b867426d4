"""The hottest reads on SQLite, run on a sqlite3 connection without SQLAlchemy's execution; on any
other database, through SQLAlchemy as every other statement.

A read outside a transaction paid SQLAlchemy's connect and close (the pool's checkout and its
reset on return, hops into its greenlet and an extra turn of the loop) and its execution: about
160 and 130 µs on an idle core, where the statement on the sqlite3 connection takes 10-20 µs, and
a job passes several such reads on its way (the relays' outbox reads, the worker's look at the
job's render stream, the tracker's job in its fold, each status poll). So a store on a SQLite file
keeps connections of its own for these reads (`ReadConnections`, one per thread: tests and tools
run loops in several). They never write, and each SELECT is read whole at once, so none holds a
read transaction open: each sees every commit made before it, as a pooled connection's would.
Inside a transaction, a `DirectRead` runs on the transaction's own connection and sees its
writes, as a `DirectWrite` does.

A `DirectRead` is one SELECT, compiled by SQLAlchemy once, with each bound value stored and each
column's value read back as SQLAlchemy's own type processing does (a datetime parsed from the
text SQLite holds, a UUID from its hex, JSON decoded). Its tests hold its rows to SQLAlchemy's.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Select
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.eventstore.direct_writes import Compiled, Row, compile_for_sqlite, on_loop_connection
from shared.eventstore.sqlite_on_loop import OnLoopConnection


class ReadConnections:
    """A SQLite file's connections for direct reads, one per thread, opened when first asked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[OnLoopConnection] = []
        self._closed = False

    @classmethod
    def of(cls, engine: AsyncEngine) -> ReadConnections | None:
        """For an engine on a SQLite file; None for any other (PostgreSQL, `:memory:`, whose
        one connection holds the whole database)."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return None
        return cls(Path(database))

    def connection(self) -> OnLoopConnection | None:
        """This thread's connection; None once closed (the store's engine is going away)."""
        found: OnLoopConnection | None = getattr(self._local, "connection", None)
        if found is not None and not found.closed:
            return found
        with self._lock:
            if self._closed:
                return None
            # mode=rw: a file not there is an error, never made empty here (its owner makes it);
            # timeout=0: a lock is waited for on the loop (OnLoopConnection.run), never slept on
            uri = f"{self.path.resolve().as_uri()}?mode=rw"
            found = OnLoopConnection(
                sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False)
            )
            self._opened.append(found)
        self._local.connection = found
        return found

    def close(self) -> None:
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
        for connection in opened:
            with contextlib.suppress(sqlite3.Error):
                connection.close()


def _connection(source: ReadSource) -> OnLoopConnection | None:
    """The source's direct read connection for this thread; None: read through SQLAlchemy."""
    reads = source.direct_reads
    if reads is None:
        return None
    try:
        return reads.connection()
    except sqlite3.Error as exc:
        # its file gone, say: an error of the database, as SQLAlchemy's connect would raise it
        dialect = source.engine.dialect
        raise DBAPIError.instance(None, None, exc, sqlite3.Error, dialect=dialect) from exc


class ReadSource(Protocol):
    """Where a read outside a transaction goes: an event store."""

    engine: AsyncEngine
    direct_reads: ReadConnections | None

    def reading(self) -> AsyncConnection: ...


class DirectRead:
    """One SELECT: on SQLite's connection directly, through SQLAlchemy elsewhere."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self.keys = tuple(str(column.key) for column in statement.selected_columns)
        self._compiled: Compiled | None = None
        self._results: tuple[Callable[[Any], Any] | None, ...] = ()

    async def rows(
        self, source: ReadSource | AsyncConnection, parameters: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Its rows, in `source`'s transaction (a connection) or outside any (a store)."""
        given = dict(parameters or {})
        if isinstance(source, AsyncConnection):
            direct = on_loop_connection(source)
            if direct is None:
                return [tuple(row) for row in (await source.execute(self.statement, given))]
            return await self._direct(direct, source.dialect, given)
        direct = _connection(source)
        if direct is None:
            async with source.reading() as conn:
                return [tuple(row) for row in (await conn.execute(self.statement, given))]
        return await self._direct(direct, source.engine.dialect, given)

    async def mappings(
        self, source: ReadSource | AsyncConnection, parameters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Its rows by column name."""
        return [
            dict(zip(self.keys, row, strict=True)) for row in await self.rows(source, parameters)
        ]

    async def _direct(
        self, connection: OnLoopConnection, dialect: Dialect, parameters: dict[str, Any]
    ) -> list[Row]:
        compiled = self._compiled_for(dialect)
        arguments = compiled.arguments(parameters)
        try:
            rows = await connection.run(
                lambda: connection.sqlite.execute(compiled.sql, arguments).fetchall()
            )
        except sqlite3.Error as exc:
            raise compiled.error(arguments, exc, dialect) from exc
        results = self._results
        if not any(results):
            return rows
        return [
            tuple(
                value if process is None or value is None else process(value)
                for process, value in zip(results, row, strict=True)
            )
            for row in rows
        ]

    def _compiled_for(self, dialect: Dialect) -> Compiled:
        if self._compiled is None:
            self._results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            self._compiled = compile_for_sqlite(self.statement, dialect)
        return self._compiled
