"""SQLite for SQLAlchemy's asyncio engine, run on the event loop instead of in a thread.

aiosqlite hands every call (cursor, execute, fetch, close, commit) to a thread of its own and back:
about four hand-offs per statement, which cost far more than the statement itself on a local file
in WAL mode (tens of microseconds, no fsync per commit with synchronous=NORMAL). This module is a
small SQLAlchemy dialect of its own instead, whose DBAPI is the stdlib's sqlite3 run on the loop:
a statement finishes without suspending, except to wait for a lock.

While another process (an operator tool) holds the file's write lock, a statement that needs it
is refused at once (no busy timeout) and tried again after a pause on the loop
(`shared/eventstore/sqlite_locks.py`), so the other tasks of the process go on meanwhile. Writers
inside this process rarely meet that way: the event store's write transactions take turns
(`shared/eventstore/write_turns.py`). The hottest writes skip SQLAlchemy's execution
(`shared/eventstore/direct_writes.py`) and run through `OnLoopConnection.run`, with the same wait.

What it stands on (the adapter's contract test pins each point):
- SQLAlchemy's dialect interface: a subclass of the pysqlite dialect
  (`sqlalchemy.dialects.sqlite.pysqlite.SQLiteDialect_pysqlite`) that says `is_async`, gives its
  DBAPI (`import_dbapi`), its pools (`get_pool_class`: `AsyncAdaptedQueuePool`, `StaticPool` for
  `:memory:`), `do_terminate`, and server-side cursors (`create_server_side_cursor` of an
  execution context derived from `sqlalchemy.dialects.sqlite.base.SQLiteExecutionContext`); it
  is found by name through `sqlalchemy.dialects.registry.register`, and connections come from
  `create_engine`'s `creator`. At import, `check_overrides` refuses a hook the base no longer
  has (renamed in an upgrade, SQLAlchemy would not call it).
- `sqlalchemy.util.await_` (`await_only` before 2.1): exported by `sqlalchemy.util` and named by
  SQLAlchemy's changelog (2.0.31) for third-party code in its greenlets, though not in its API
  reference. Every execute goes through it once, as `AsyncConnection.execute` requires of an
  asyncio driver (AwaitRequired otherwise), and a lock wait pauses in it. Missing: ImportError.
- the DBAPI (PEP 249) shape SQLAlchemy calls on a connection and cursor, and sqlite3's own public
  names. Nothing of aiosqlite: the `sqlite+aiosqlite://` URLs of the settings only choose SQLite.
- one private name the other way round: SQLAlchemy's asyncio results (2.0.44 on) await
  `_async_soft_close()` of every asyncio driver's cursor, so `OnLoopCursor` has one; SQLAlchemy
  reads no other private name of ours. This module reads or writes no attribute of SQLAlchemy's
  (or any other library's) whose name starts with `_`.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import pool
from sqlalchemy import util as sqlalchemy_util
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor, DBAPIModule
from sqlalchemy.engine.url import URL

from shared.eventstore.sqlite_locks import is_busy, waiting
from shared.settings import SqliteSynchronous

T = TypeVar("T")

# another process writing the file (an operator tool) is waited for this long, not refused
LOCK_PATIENCE_S = 10.0
# the URL scheme an engine of this module is created with (the settings keep sqlite+aiosqlite)
DRIVER = "onloop"
URL_SCHEME = f"sqlite+{DRIVER}"


def find_greenlet_await() -> Callable[[Awaitable[Any]], Any]:
    """SQLAlchemy's way for synchronous code in its greenlet to wait for a coroutine."""
    for name in ("await_", "await_only"):
        found = getattr(sqlalchemy_util, name, None)
        if callable(found):
            return cast(Callable[[Awaitable[Any]], Any], found)
    raise ImportError(
        "sqlalchemy.util has neither await_ nor await_only: this SQLAlchemy cannot run "
        f"{__name__}'s SQLite dialect; see the module docstring for what it needs"
    )


_await = find_greenlet_await()


def connect(path: Path | str, *, synchronous: SqliteSynchronous) -> OnLoopConnection:
    """Open the file in WAL mode, the way every service's SQLite database is opened.

    Called by the engine's pool, inside SQLAlchemy's greenlet (a lock is waited for there)."""
    # timeout=0: no busy handler sleeping on the loop; locks are waited for by `_waiting`
    conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
    try:
        # WAL lets readers go on while a writer commits, and a commit is safe from a killed
        # process; NORMAL skips the fsync of each commit (a power cut or OS crash can take the
        # last commits back), FULL syncs the WAL at every commit. The answer is read: a statement
        # left open makes SQLite refuse the dialect's functions (floor overrides a built-in)
        _await(_waiting(conn, lambda: conn.execute("PRAGMA journal_mode=WAL").fetchall()))
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        conn.close()
        raise
    return OnLoopConnection(conn)


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


class OnLoopCursor:
    """A sqlite3 cursor for SQLAlchemy. A query's rows are read at once, as SQLAlchemy's asyncio
    adapters do, so no statement stays open after execute; a server-side cursor reads as asked."""

    def __init__(self, connection: OnLoopConnection, *, server_side: bool = False) -> None:
        self._connection = connection
        self._cursor = connection.sqlite.cursor()
        self.server_side = server_side
        self._rows: collections.deque[Any] = collections.deque()

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

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> OnLoopCursor:
        _await(self._run(lambda: self._cursor.execute(sql, parameters)))
        return self

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OnLoopCursor:
        # refused, it wrote nothing (the lock is taken before the first row): a list runs again
        rows = list(parameters)
        _await(self._run(lambda: self._cursor.executemany(sql, rows)))
        return self

    async def _run(self, statement: Callable[[], object]) -> None:
        await self._connection.run(statement, after=self._read_rows)

    def _read_rows(self) -> None:
        if self._cursor.description is not None and not self.server_side:
            self._rows = collections.deque(self._cursor.fetchall())

    def fetchone(self) -> Any:
        if self.server_side:
            return self._cursor.fetchone()
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size if size is not None else self._cursor.arraysize
        if self.server_side:
            return self._cursor.fetchmany(size)
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self) -> list[Any]:
        if self.server_side:
            return self._cursor.fetchall()
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row

    def setinputsizes(self, *_: object) -> None:
        """DBAPI: a hint sqlite3 has no use for."""

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """Asked of an asyncio driver's cursor by SQLAlchemy (>= 2.0.44) after each execute,
        to let go of the driver's cursor while keeping the rows: with the rows read at execute,
        no statement of sqlite3's is open, and the cursor closes with the result."""


class OnLoopConnection:
    """A sqlite3 connection for SQLAlchemy: a commit waits for a lock on the loop."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.sqlite = conn
        self.statements = asyncio.Lock()
        self.closed = False

    @property
    def isolation_level(self) -> str | None:
        return self.sqlite.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self.sqlite.isolation_level = value

    @property
    def in_transaction(self) -> bool:
        return self.sqlite.in_transaction

    def cursor(self, server_side: bool = False) -> OnLoopCursor:
        return OnLoopCursor(self, server_side=server_side)

    async def run(self, statement: Callable[[], T], after: Callable[[], None] | None = None) -> T:
        """Run `statement` (a call on `sqlite`), waiting on the loop for a lock another
        connection holds, then `after` (reading its rows, say): one statement at a time on this
        connection, also while one waits."""
        async with self.statements:
            done = await _waiting(self.sqlite, statement)
            if after is not None:
                after()
            return done

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> OnLoopCursor:
        return self.cursor().execute(sql, parameters)

    def create_function(
        self, name: str, num_params: int, func: Callable[..., Any], **kw: Any
    ) -> None:
        self.sqlite.create_function(name, num_params, func, **kw)

    def commit(self) -> None:
        if self.closed:
            return
        # a COMMIT refused as busy leaves the transaction open, to be committed again
        _await(waiting(self.sqlite.commit, LOCK_PATIENCE_S))

    def rollback(self) -> None:
        if self.closed:
            return
        self.sqlite.rollback()

    def close(self) -> None:
        self.closed = True
        self.sqlite.close()

    def terminate(self) -> None:
        """What the pool does to a connection it lost track of: closing needs no wait here."""
        self.close()


class OnLoopDBAPI:
    """The DBAPI module the dialect is given: sqlite3's names (errors, version, types)."""

    paramstyle = "qmark"

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    connect = staticmethod(connect)


class OnLoopExecutionContext(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> DBAPICursor:
        cursor = cast(OnLoopCursor, self.create_default_cursor())
        cursor.server_side = True
        return cast(DBAPICursor, cursor)


class SQLiteDialectOnLoop(SQLiteDialect_pysqlite):
    """pysqlite's dialect (SQL, types, isolation levels), made an asyncio one."""

    driver = DRIVER
    supports_statement_cache = True
    is_async = True
    has_terminate = True
    supports_server_side_cursors = True
    execution_ctx_cls = OnLoopExecutionContext

    @classmethod
    def import_dbapi(cls) -> DBAPIModule:
        return cast(DBAPIModule, OnLoopDBAPI())

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # as for aiosqlite: one connection shared by all for a database in memory
        if url.database in (None, "", ":memory:"):
            return pool.StaticPool
        return pool.AsyncAdaptedQueuePool

    def do_terminate(self, dbapi_connection: DBAPIConnection) -> None:
        cast(OnLoopConnection, dbapi_connection).terminate()


def check_overrides(cls: type) -> None:
    """Refuse a class whose hooks its SQLAlchemy base no longer has: SQLAlchemy would not call
    them (a hook renamed in an upgrade), and the engine would quietly act as the base."""
    unknown = [
        name
        for name in vars(cls)
        if not name.startswith("__") and not any(hasattr(base, name) for base in cls.__mro__[1:])
    ]
    if unknown:
        raise ImportError(
            f"{cls.__qualname__} overrides {', '.join(unknown)}, which this SQLAlchemy's "
            f"{cls.__mro__[1].__qualname__} no longer has: see {__name__}'s docstring"
        )


check_overrides(SQLiteDialectOnLoop)
check_overrides(OnLoopExecutionContext)
registry.register(f"sqlite.{DRIVER}", __name__, SQLiteDialectOnLoop.__name__)
