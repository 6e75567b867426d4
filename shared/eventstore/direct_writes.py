"""The hottest writes on SQLite, run on its own connection without SQLAlchemy's per-statement
machinery; on any other database, through SQLAlchemy as every other statement.

On a SQLite file a write takes microseconds, and SQLAlchemy's execution around it (the compiled
cache's key, the execution context, the result, the hop into its greenlet) 50-80 µs on an idle
core: most of a todo's create. A `DirectWrite` is one such statement (an event's insert, its
outbox row, the todo list's row, the id counter, the list's version, the tracker's inbox row and
job row), compiled by SQLAlchemy once for each set of parameter names it is given, and run on the
transaction's sqlite3 connection with SQLAlchemy's own bind processing of each value (a datetime
is stored as SQLAlchemy stores it). The reads beside them are in `direct_reads.py`.
It runs inside the caller's transaction like any statement, and a database error comes out as
SQLAlchemy's exception (`IntegrityError` for a taken key), as from `conn.execute`.

What it stands on, all public: `AsyncConnection.sync_connection`, `Connection.connection` and its
`driver_connection` (the on-loop dialect's connection, `sqlite_on_loop.OnLoopConnection`), the
compiled statement's `string`, `positiontup`, `binds` and `construct_params`, each bind type's
`dialect_impl` and its `bind_processor`, and `DBAPIError.instance`. Its tests hold the rows
written here to those written by `conn.execute`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, UpdateBase

from shared.eventstore.sqlite_on_loop import OnLoopConnection

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Compiled:
    """A statement compiled for SQLite, with how each of its bound values is stored."""

    compiled: SQLCompiler
    sql: str
    # the bind names in the order of the statement's `?`, and how each value is stored
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = self.compiled.construct_params(dict(parameters))
        # None too, as SQLAlchemy does: a JSON column's processor makes it JSON's null
        return [
            value if process is None else process(value)
            for process, value in zip(
                self.processors, (values[name] for name in self.names), strict=True
            )
        ]

    def error(self, arguments: list[Any], exc: sqlite3.Error, dialect: Dialect) -> StatementError:
        """sqlite3's error as SQLAlchemy raises it (`IntegrityError` for a taken key)."""
        return DBAPIError.instance(self.sql, arguments, exc, sqlite3.Error, dialect=dialect)


def compile_for_sqlite(
    statement: ClauseElement, dialect: Dialect, names: tuple[str, ...] = ()
) -> Compiled:
    """`statement` compiled once for SQLite; `names`: the columns an insert or update is given."""
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    # the dialect's paramstyle is positional (qmark): the names in the order of `?`
    assert isinstance(compiled, SQLCompiler)
    assert compiled.positiontup is not None
    binds = [compiled.binds[name] for name in compiled.positiontup]
    return Compiled(
        compiled,
        compiled.string,
        tuple(compiled.positiontup),
        # the dialect's own type, as SQLAlchemy processes a value: a datetime to the text SQLite
        # stores, a UUID to its hex
        tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
    )


class DirectWrite:
    """One write statement: directly on SQLite's connection, through SQLAlchemy elsewhere."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, ...], Compiled] = {}

    async def run(
        self, conn: AsyncConnection, parameters: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Run it in `conn`'s transaction; the rows it returns (a RETURNING clause's, as the
        database holds the values: integers and strings on SQLite), or none."""
        given = parameters or {}
        direct = on_loop_connection(conn)
        if direct is None:
            result = await conn.execute(self.statement, dict(given))
            return [tuple(row) for row in result.all()] if result.returns_rows else []
        cursor = await self._direct(direct, conn.dialect, given)
        return cursor.fetchall() if cursor.description is not None else []

    async def count(self, conn: AsyncConnection, parameters: Mapping[str, Any]) -> int:
        """Run it in `conn`'s transaction; how many rows it wrote (an insert that met its key
        and did nothing: 0)."""
        direct = on_loop_connection(conn)
        if direct is None:
            return (await conn.execute(self.statement, dict(parameters))).rowcount
        return (await self._direct(direct, conn.dialect, parameters)).rowcount

    async def insert(self, conn: AsyncConnection, parameters: Mapping[str, Any]) -> Any:
        """Insert one row in `conn`'s transaction; its primary key (an insert's statement)."""
        direct = on_loop_connection(conn)
        if direct is None:
            result = await conn.execute(self.statement, dict(parameters))
            return result.inserted_primary_key[0]  # type: ignore[index]
        return (await self._direct(direct, conn.dialect, parameters)).lastrowid

    async def _direct(
        self, connection: OnLoopConnection, dialect: Dialect, parameters: Mapping[str, Any]
    ) -> sqlite3.Cursor:
        names = tuple(parameters)
        compiled = self._compiled.get(names)
        if compiled is None:
            compiled = self._compiled[names] = compile_for_sqlite(self.statement, dialect, names)
        arguments = compiled.arguments(parameters)
        cursor = connection.sqlite.cursor()
        try:
            await connection.run(lambda: cursor.execute(compiled.sql, arguments))
        except sqlite3.Error as exc:
            raise compiled.error(arguments, exc, dialect) from exc
        return cursor


def on_loop_connection(conn: AsyncConnection) -> OnLoopConnection | None:
    """The connection under `conn` when it is the on-loop dialect's (a direct write's); None on
    any other database."""
    sync = conn.sync_connection
    # invalidated (its file gone, say): SQLAlchemy's own path reconnects or fails as it should
    if sync is None or sync.invalidated:
        return None
    driver = sync.connection.driver_connection
    return driver if isinstance(driver, OnLoopConnection) else None
