"""The transport's one SQLite connection, used from one worker thread.

A single connection in a single thread serialises this process's reads and writes without
locks, and the event loop never waits on the file; other processes wait via busy_timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from shared.transport.schema import connect

P = ParamSpec("P")
T = TypeVar("T")


class TransportDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transport-db")
        self._conn = self._thread.submit(connect, path).result()

    async def run(
        self,
        work: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `work(conn, ...)` in the database thread."""
        call = functools.partial(work, self._conn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    def close(self) -> None:
        self._thread.submit(self._conn.close).result()
        self._thread.shutdown()


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, committed before the caller answers (durable on return)."""
    # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
