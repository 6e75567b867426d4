"""The transport's one SQLite connection, used on the event loop.

Each operation is one short transaction on a local file in WAL mode (tens of microseconds, no
fsync per commit under synchronous=NORMAL), cheaper than a hand-off to a thread and back; a single
connection used by one loop serialises this process's reads and writes without locks. Other
processes (operator tools, services started apart) are waited for on the loop: an operation
refused as busy before it wrote anything runs again after a pause
(`shared/eventstore/sqlite_locks.py`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from embedded.transport.schema import connect
from shared.eventstore.sqlite_locks import waiting
from shared.settings import SqliteSynchronous

P = ParamSpec("P")
T = TypeVar("T")

# another process writing the file (an operator tool) is waited for this long, not refused
LOCK_PATIENCE_S = 5.0


class TransportDatabase:
    def __init__(self, path: Path, *, synchronous: SqliteSynchronous = "NORMAL") -> None:
        self.path = path
        self._conn = connect(path)
        # from now on no busy handler sleeps on the loop: `run` waits for locks instead
        self._conn.execute("PRAGMA busy_timeout = 0")
        self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        # loops in other threads of the process (a test's, a tool's) may share the transport
        self._lock = threading.Lock()

    async def run(
        self,
        work: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `work(conn, ...)`: one transaction, suspending only to wait for another's lock."""
        untouched = True

        def attempt() -> T:
            nonlocal untouched
            with self._lock:
                changes = self._conn.total_changes
                try:
                    return work(self._conn, *args, **kwargs)
                finally:
                    # refused at its BEGIN IMMEDIATE (or a read), work wrote nothing: run it again
                    untouched = (
                        self._conn.total_changes == changes and not self._conn.in_transaction
                    )

        # the pauses happen outside the thread lock, so other loops' operations go on meanwhile
        return await waiting(attempt, LOCK_PATIENCE_S, retryable=lambda: untouched)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, committed before the caller answers (no killed process takes it
    back; a power cut can under synchronous=NORMAL)."""
    # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read;
    # holding it, nothing inside can be refused as busy (WAL: readers never block a writer)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
