"""SQLite for SQLAlchemy's asyncio engine, run on the event loop instead of in a thread.

aiosqlite hands every call (cursor, execute, fetch, close, commit) to a thread of its own and back:
about four hand-offs per statement, which cost far more than the statement itself on a local file
in WAL mode (tens of microseconds, no fsync per commit with synchronous=NORMAL). These classes
answer the part of aiosqlite's interface that SQLAlchemy's aiosqlite dialect uses, with
coroutines that finish without ever suspending.

The price: while another process (an operator tool) holds the file's write lock, the loop waits
for it, up to the busy timeout. Writers inside this process never wait that way: the event store
queues its write transactions on an asyncio lock (`shared/store.py`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

# another process writing the file (an operator tool) is waited for this long, not refused
BUSY_TIMEOUT_MS = 10_000


def connect(path: Path | str) -> InlineConnection:
    """Open the file in WAL mode, the way every service's SQLite database is opened."""
    conn = sqlite3.connect(path, check_same_thread=False)
    # WAL lets readers go on while a writer commits; NORMAL skips the fsync of each commit
    # (a killed process loses nothing, only a power loss can take the last commits back)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")
    return InlineConnection(conn)


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
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
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
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._connection = None
        self._conn.close()
