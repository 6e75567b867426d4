"""SQLite's write transactions in one process: one at a time, each handed the connection of the
one before it while others wait.

SQLite has one writer at a time, so a process's write transactions queue for their turn (on an
asyncio lock; two writers upgrading their reads at once would be refused as busy). Taking a
pooled connection for each turn and giving it back afterwards (SQLAlchemy's checkout and checkin,
each with its own hand-off into SQLAlchemy's greenlet) cost a todo's create about a fifth of its
CPU. So a turn that ends while another waits hands its connection on; one that ends with nobody
waiting gives it back to the pool. A store at rest holds no connection, and disposing of the
engine closes them all, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class WriteTurns:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock()
        # turns asked for and not begun yet
        self._waiting = 0
        # the connection the last turn left for the next (None: the next takes one from the pool)
        self._handed: AsyncConnection | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[AsyncConnection]:
        """The process's one write connection until the block ends, outside any transaction:
        the block begins and ends its own."""
        await self._wait_for_turn()
        try:
            conn = await self._take_connection()
            reusable = False
            try:
                yield conn
                reusable = not conn.in_transaction() and not conn.invalidated
            finally:
                if reusable and self._waiting:
                    self._handed = conn
                else:
                    # an error may have left it in any state: the pool resets it, or drops it
                    await conn.close()
        finally:
            self._lock.release()

    @property
    def waiting(self) -> int:
        """Turns asked for and not begun yet."""
        return self._waiting

    @property
    def handed(self) -> AsyncConnection | None:
        """The connection left for the next turn (None once the turns are over)."""
        return self._handed

    async def _wait_for_turn(self) -> None:
        self._waiting += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._waiting -= 1
            # cancelled after a turn handed it a connection: nobody else may come for it
            if not self._waiting and not self._lock.locked():
                await self._give_back_handed()
            raise
        self._waiting -= 1

    async def _take_connection(self) -> AsyncConnection:
        conn, self._handed = self._handed, None
        if conn is not None:
            if not conn.invalidated:
                return conn
            # invalidated since it was handed on (its file lost, say): no use to anyone
            await conn.close()
        return await self._engine.connect()

    async def _give_back_handed(self) -> None:
        conn, self._handed = self._handed, None
        if conn is not None:
            await conn.close()
