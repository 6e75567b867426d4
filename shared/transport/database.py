"""The transport's one SQLite connection, used on the event loop.

Each operation is one short transaction on a local file in WAL mode (tens of microseconds, no
fsync per commit), cheaper than a hand-off to a thread and back; a single connection used by one
loop serialises this process's reads and writes without locks. Other processes (operator tools)
are waited for via busy_timeout.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from shared.transport.schema import connect

P = ParamSpec("P")
T = TypeVar("T")


class TransportDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        # loops in other threads of the process (a test's, a tool's) may share the transport
        self._lock = threading.Lock()

    async def run(
        self,
        work: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `work(conn, ...)`: one transaction, without suspending."""
        with self._lock:
            return work(self._conn, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


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
