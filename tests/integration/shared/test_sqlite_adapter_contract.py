"""What SQLite on the event loop stands on, pinned: an upgrade that moves it fails here by name.

`shared/eventstore/sqlite_on_loop.py` is a SQLAlchemy dialect of its own over the stdlib's
sqlite3 (its docstring lists what it relies on). These tests check that a SQLite engine is that
dialect and runs in the loop's thread, that SQLAlchemy still calls the hooks it overrides and the
one name it asks of the cursor, and that the module touches no private name of another library.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import math
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc
import sqlalchemy.util
from sqlalchemy import event, pool, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.eventstore import sqlite_on_loop
from shared.eventstore.database import create_engine
from shared.eventstore.sqlite_on_loop import (
    OnLoopConnection,
    OnLoopCursor,
    SQLiteDialectOnLoop,
    check_overrides,
    find_greenlet_await,
)
from shared.settings import Settings

ROWS = 1000
# one query of ROWS numbers, for a streamed result
NUMBERS = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
    "SELECT i FROM n"
).bindparams(rows=ROWS)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db"))
    yield engine
    await engine.dispose()


class TestTheEngine:
    async def test_a_sqlite_engine_is_the_on_loop_dialect_over_sqlite3(
        self, engine: AsyncEngine
    ) -> None:
        assert isinstance(engine.dialect, SQLiteDialectOnLoop)
        # get_pool_class and import_dbapi are the dialect's own, so SQLAlchemy called them
        assert isinstance(engine.pool, pool.AsyncAdaptedQueuePool)
        assert engine.dialect.dbapi is not None
        dbapi: Any = engine.dialect.dbapi
        assert dbapi.OperationalError is sqlite3.OperationalError
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.dbapi_connection, OnLoopConnection)

    def test_a_database_in_memory_is_one_shared_connection(self) -> None:
        assert SQLiteDialectOnLoop.get_pool_class(make_url("sqlite+onloop://")) is pool.StaticPool
        file_url = make_url("sqlite+onloop:///var/x.db")
        assert SQLiteDialectOnLoop.get_pool_class(file_url) is pool.AsyncAdaptedQueuePool

    def test_the_url_scheme_finds_the_dialect(self) -> None:
        assert make_url(f"{sqlite_on_loop.URL_SCHEME}:///x.db").get_dialect() is SQLiteDialectOnLoop

    async def test_statements_run_in_the_loops_thread_and_start_no_thread(
        self, engine: AsyncEngine
    ) -> None:
        @event.listens_for(engine.sync_engine, "connect")
        def add_thread_id(dbapi_connection: Any, _: object) -> None:
            dbapi_connection.create_function("thread_id", 0, threading.get_ident)

        threads_before = threading.active_count()
        async with engine.begin() as conn:
            ran_in = (await conn.execute(text("SELECT thread_id()"))).scalar_one()
        assert ran_in == threading.get_ident(), "a statement ran outside the loop's thread"
        assert threading.active_count() == threads_before, "opening a connection started a thread"

    async def test_connections_opened_together_each_get_the_dialects_functions(
        self, engine: AsyncEngine
    ) -> None:
        # floor() overrides a built-in: SQLite refuses that while a statement is left open
        async def floor_of(value: float) -> int:
            async with engine.connect() as conn:
                found = (await conn.execute(text("SELECT floor(:v)"), {"v": value})).scalar_one()
                await asyncio.sleep(0.01)
                return int(found)

        assert await asyncio.gather(*(floor_of(n + 0.5) for n in range(5))) == list(range(5))

    async def test_a_streamed_query_reads_every_row(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            streamed = await conn.stream(NUMBERS)
            numbers = [row.i async for row in streamed]
        assert numbers == list(range(1, ROWS + 1))

    async def test_a_query_is_read_at_execute_and_a_stream_as_asked(
        self, engine: AsyncEngine
    ) -> None:
        # SQLite refuses to override a built-in function while a statement of the connection is
        # open (as it also keeps the file's read snapshot): that shows whether one is
        async with engine.connect() as conn:
            connection = (await conn.get_raw_connection()).dbapi_connection
            assert isinstance(connection, OnLoopConnection)
            result = await conn.execute(NUMBERS)
            connection.create_function("floor", 1, math.floor)
            assert len(result.fetchall()) == ROWS

            streamed = await conn.stream(NUMBERS)
            with pytest.raises(sqlite3.OperationalError):
                connection.create_function("floor", 1, math.floor)
            assert len([row async for row in streamed]) == ROWS


class TestWhatSqlalchemyCalls:
    def test_await_comes_from_sqlalchemy_util(self) -> None:
        found = find_greenlet_await()
        assert found in (getattr(sqlalchemy.util, n, None) for n in ("await_", "await_only"))

    def test_a_sqlalchemy_without_await_is_refused_by_name(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in ("await_", "await_only"):
            monkeypatch.delattr(sqlalchemy.util, name, raising=False)
        with pytest.raises(ImportError, match="neither await_ nor await_only"):
            find_greenlet_await()

    def test_every_hook_the_dialect_overrides_is_one_sqlalchemy_has(self) -> None:
        # the same check the module makes at import; here it must pass, below it must refuse
        check_overrides(SQLiteDialectOnLoop)
        check_overrides(sqlite_on_loop.OnLoopExecutionContext)

    def test_a_hook_sqlalchemy_does_not_have_is_refused_by_name(self) -> None:
        class Renamed(SQLiteDialectOnLoop):
            def import_dbapi_v3(self) -> None:
                """A hook this SQLAlchemy never calls."""

        with pytest.raises(ImportError, match="import_dbapi_v3"):
            check_overrides(Renamed)

    async def test_sqlalchemy_soft_closes_the_cursor_after_an_execute(
        self, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        soft_closed: list[OnLoopCursor] = []

        async def record(cursor: OnLoopCursor) -> None:
            soft_closed.append(cursor)

        # the one name of SQLAlchemy's asyncio protocol the cursor answers (see the module)
        monkeypatch.setattr(OnLoopCursor, "_async_soft_close", record)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert soft_closed, "SQLAlchemy no longer calls OnLoopCursor._async_soft_close"

    async def test_sqlalchemy_refuses_an_execute_that_never_awaits(
        self, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Why every execute passes through await_, even one that waits for nothing."""

        def run_without_suspending(awaitable: Any) -> Any:
            try:
                awaitable.send(None)
            except StopIteration as done:
                return done.value
            raise AssertionError("the statement suspended")

        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            monkeypatch.setattr(sqlite_on_loop, "_await", run_without_suspending)
            with pytest.raises(sqlalchemy.exc.AwaitRequired):
                await conn.execute(text("SELECT 1"))


class TestPublicGround:
    async def test_sqlalchemy_reads_no_private_name_of_the_connection_or_cursor_but_one(
        self, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The other way round: no name of ours SQLAlchemy reads may be private, as aiosqlite's
        `_connection`, `_tx` and `_conn` were, bar the cursor's `_async_soft_close`."""
        read_from_outside: set[str] = set()
        for cls in (OnLoopConnection, OnLoopCursor):
            monkeypatch.setattr(cls, "__getattribute__", _recording_into(read_from_outside))

        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (:n)"), [{"n": 1}, {"n": 2}])
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
            assert [row.n async for row in await conn.stream(text("SELECT n FROM t"))] == [1, 2]
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO t VALUES (3)"))
            await conn.rollback()
        # as the event store and the relay lease use it: isolation level set, locks taken by hand
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.execute(text("INSERT INTO t VALUES (4)"))
            await conn.exec_driver_sql("COMMIT")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT max(n) FROM t"))).scalar_one() == 4
        await engine.dispose()

        assert read_from_outside == {"_async_soft_close"}

    def test_the_module_reads_no_private_name_of_another_library(self) -> None:
        source = inspect.getsource(sqlite_on_loop)
        assert private_names_used(source) == []

    def test_the_check_finds_a_private_name(self) -> None:
        impersonating = textwrap.dedent(
            """
            from aiosqlite.core import _STOP_RUNNING
            class Adapter(AsyncAdapt_dbapi_connection):
                def commit(self):
                    self._execute_mutex
            class Ours:
                def close(self):
                    self._conn.close()
                    return self._connection._tx, getattr(self._conn, "_conn")
            """
        )
        assert sorted(private_names_used(impersonating)) == [
            "_STOP_RUNNING",
            "_tx",
            "getattr(..., '_conn')",
            "self._execute_mutex (in a subclass of AsyncAdapt_dbapi_connection)",
        ]

    def test_no_aiosqlite_is_imported(self, tmp_path: Path) -> None:
        program = textwrap.dedent(
            f"""
            import asyncio, sys
            from sqlalchemy import text
            from shared.eventstore.database import create_engine
            from shared.settings import Settings

            async def main():
                url = "sqlite+aiosqlite:///{tmp_path}/service.db"
                engine = create_engine(Settings(database_url=url))
                async with engine.begin() as conn:
                    await conn.execute(text("SELECT 1"))
                await engine.dispose()

            asyncio.run(main())
            print("aiosqlite" in sys.modules)
            """
        )
        ran = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == "False"


def _recording_into(names: set[str]) -> Any:
    """A __getattribute__ that notes the private names read by code outside sqlite_on_loop."""

    def __getattribute__(self: object, name: str) -> Any:
        caller = inspect.currentframe()
        module = caller.f_back.f_globals.get("__name__") if caller and caller.f_back else None
        if _is_private(name) and module != sqlite_on_loop.__name__:
            names.add(name)
        return object.__getattribute__(self, name)

    return __getattribute__


def private_names_used(source: str) -> list[str]:
    """Private names (`_x`, not dunders) the source reads of anything but its own classes'
    instances: `self._x` counts only in a class whose bases are none or classes of the source."""
    tree = ast.parse(source)
    own_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [alias.name for alias in node.names if _is_private(alias.name)]
        elif isinstance(node, ast.ClassDef):
            foreign = [ast.unparse(b) for b in node.bases if ast.unparse(b) not in own_classes]
            for inner in ast.walk(node):
                if _is_self_private(inner) and foreign:
                    found.append(f"{ast.unparse(inner)} (in a subclass of {', '.join(foreign)})")
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            if not _is_self_private(node):
                found.append(node.attr)
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("getattr", "setattr"):
            names = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            found += [f"{ast.unparse(node.func)}(..., {n!r})" for n in names if _is_private(n)]
    return found


def _is_private(name: object) -> bool:
    return isinstance(name, str) and name.startswith("_") and not name.startswith("__")


def _is_self_private(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and _is_private(node.attr)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )
