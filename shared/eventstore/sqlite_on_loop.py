"""SQLite for SQLAlchemy's asyncio engine, run on the event loop instead of in a thread.

aiosqlite hands every call (cursor, execute, fetch, close, commit) to a thread of its own and back:
about four hand-offs per statement, which cost far more than the statement itself on a local file
in WAL mode (tens of microseconds, no fsync per commit with synchronous=NORMAL). These classes
answer the part of aiosqlite's interface that SQLAlchemy's aiosqlite dialect uses, with
coroutines that finish without suspending, except to wait for a lock.

While another process (an operator tool) holds the file's write lock, a statement that needs it
is refused at once (no busy timeout) and tried again after a pause on the loop
(`shared/eventstore/sqlite_locks.py`), so the other tasks of the process go on meanwhile. Writers
inside
this process rarely meet that way: the event store queues its write transactions on an asyncio
lock (`shared/eventstore/store.py`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from shared.eventstore.sqlite_locks import is_busy, waiting
from shared.settings import SqliteSynchronous

T = TypeVar("T")

# another process writing the file (an operator tool) is waited for this long, not refused
LOCK_PATIENCE_S = 10.0


async def connect(path: Path | str, *, synchronous: SqliteSynchronous) -> InlineConnection:
    """Open the file in WAL mode, the way every service's SQLite database is opened."""
    # timeout=0: no busy handler sleeping on the loop; locks are waited for by `_waiting`
    conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
    # WAL lets readers go on while a writer commits, and a commit is safe from a killed process;
    # NORMAL skips the fsync of each commit (a power cut or OS crash can take the last commits
    # back), FULL syncs the WAL at every commit
    await _waiting(conn, lambda: conn.execute("PRAGMA journal_mode=WAL"))
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return InlineConnection(conn)


async def _waiting(conn: sqlite3.Connection, statement: Callable[[], T]) -> T:
    """Run one statement; a lock another connection holds is waited for on the loop."""
    if conn.in_transaction:
        # pysqlite begins a transaction only with a write (or a `BEGIN IMMEDIATE` of ours): this
        # one holds the write lock, which no other writer can take from it, and a statement
        # refused in the middle of a transaction could not be tried again on its own
        return statement()

    def attempt() -> T:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if is_busy(exc) and conn.in_transaction:
                # the BEGIN pysqlite put before the refused write holds nothing: start afresh
                conn.rollback()
            raise

    return await waiting(attempt, LOCK_PATIENCE_S)


class _RunAtOnce:
    """Stands in for aiosqlite's queue of (future, function): runs the function when put."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as exc:
            if future is None:
                raise
            future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        await _waiting(self._cursor.connection, lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        # refused, it wrote nothing (the lock is taken before the first row): a list runs again
        rows = list(parameters)
        await _waiting(self._cursor.connection, lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # SQLAlchemy's dialect reads aiosqlite's `_connection` to tell an open connection
        self._connection: sqlite3.Connection | None = conn
        # ... and puts work on aiosqlite's queue `_tx` to set the isolation level
        self._tx = _RunAtOnce()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._conn.isolation_level = value

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(
        self, name: str, num_params: int, func: Callable[..., Any], **kw: Any
    ) -> None:
        self._conn.create_function(name, num_params, func, **kw)

    async def commit(self) -> None:
        # a COMMIT refused as busy leaves the transaction open, to be committed again
        await waiting(self._conn.commit, LOCK_PATIENCE_S)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._connection = None
        self._conn.close()
