"""The outbox as its relay sees it: the events an append queued, until they are published.

The rows are written by `EventStore.insert` in the append's own transaction
(shared/eventstore/store.py); this port only reads and removes them. The relay's unit tests run on
an in-memory twin, held to `SqlOutbox` by one contract test on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.eventstore.direct_reads import DirectRead
from shared.eventstore.store import EventStore
from shared.messaging.publisher import Outgoing

# checks, in the transaction that deletes published rows, that the relay still holds its lease
Fence = Callable[[AsyncConnection], Awaitable[bool]]


class LeaseLostError(Exception):
    """The relay's lease passed to another relay during its publish: the rows are left to it."""


class Outbox(Protocol):
    async def pending(self, limit: int = 100, skip: Collection[int] = ()) -> list[Outgoing]:
        """The oldest unpublished events, in position order, but for those in `skip`."""
        ...

    async def mark_published(self, positions: Sequence[int]) -> None:
        """Remove the entries at `positions`: they reached the topic. LeaseLostError (nothing
        removed) when the relay no longer holds the lease."""
        ...

    async def backlog(self) -> int:
        """How many events wait to be published."""
        ...


class SqlOutbox:
    """The outbox table of a service's event store; its deletes fenced by the relay's lease."""

    def __init__(self, store: EventStore, fence: Fence | None = None) -> None:
        self._store = store
        self._table = store.tables.outbox
        self._fence = fence
        outbox = self._table
        # the relay's read when no entry is set aside: run directly on SQLite (direct_reads.py)
        self._next = DirectRead(
            select(outbox.c.position, outbox.c.type, outbox.c.body)
            .order_by(outbox.c.position)
            .limit(bindparam("limit"))
        )

    async def pending(self, limit: int = 100, skip: Collection[int] = ()) -> list[Outgoing]:
        if not skip:
            rows = await self._next.rows(self._store, {"limit": limit})
            return [Outgoing(position, type_, body) for position, type_, body in rows]
        outbox = self._table
        query = select(outbox.c.position, outbox.c.type, outbox.c.body).where(
            outbox.c.position.not_in(list(skip))
        )
        async with self._store.reading() as conn:
            found = (await conn.execute(query.order_by(outbox.c.position).limit(limit))).all()
        return [Outgoing(position, type_, body) for position, type_, body in found]

    async def mark_published(self, positions: Sequence[int]) -> None:
        outbox = self._table
        # a write like any other: on SQLite it queues behind the store's other writers
        async with self._store.transaction() as conn:
            # the lease row stays locked until the commit: no relay takes it over in between
            if self._fence is not None and not await self._fence(conn):
                raise LeaseLostError(f"{len(positions)} published entries left to the new holder")
            await conn.execute(delete(outbox).where(outbox.c.position.in_(positions)))

    async def backlog(self) -> int:
        async with self._store.reading() as conn:
            query = select(func.count()).select_from(self._table)
            return (await conn.execute(query)).scalar_one()
