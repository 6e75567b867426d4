"""Reading a service's whole event log in global order: for replays, rebuilds and exports.

Services load one stream at a time (`EventStore.load`); these queries are for operators' tools.
A reader that pages by position reads up to a committed horizon (shared/eventstore/horizon.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, Table, func, select

from shared.contracts.envelope import Envelope
from shared.eventstore.store import EventStore


@dataclass(frozen=True)
class EventFilter:
    """Which stored events an operator means: positions inclusive, times as naive UTC."""

    from_position: int = 1
    to_position: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    types: tuple[str, ...] = ()
    stream_id: str | None = None
    # the calendar task id, which calendar events carry as their correlation id
    correlation_id: UUID | None = None

    def clauses(self, events: Table) -> list[ColumnElement[bool]]:
        found = [events.c.position >= self.from_position]
        if self.to_position is not None:
            found.append(events.c.position <= self.to_position)
        if self.since is not None:
            found.append(events.c.occurred_at >= self.since)
        if self.until is not None:
            found.append(events.c.occurred_at < self.until)
        if self.types:
            found.append(events.c.type.in_(self.types))
        if self.stream_id is not None:
            found.append(events.c.stream_id == self.stream_id)
        if self.correlation_id is not None:
            found.append(events.c.correlation_id == str(self.correlation_id))
        return found


class EventQueries:
    """Pages of a store's events by position, all of them or those a filter selects."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._events = store.tables.events

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Envelope]]:
        """Events in global order after a position: for replay and projection rebuilds."""
        return await self.read_matching(EventFilter(), after, limit)

    async def read_matching(
        self, selection: EventFilter, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, Envelope]]:
        """The selected events in global order after a position: for operator replays."""
        events = self._events
        query = (
            select(events.c.position, events.c.body)
            .where(events.c.position > after, *selection.clauses(events))
            .order_by(events.c.position)
            .limit(limit)
        )
        async with self._store.reading() as conn:
            rows = (await conn.execute(query)).all()
        return [(position, Envelope.from_json(body)) for position, body in rows]

    async def count_matching(self, selection: EventFilter) -> int:
        events = self._events
        query = select(func.count()).select_from(events).where(*selection.clauses(events))
        async with self._store.reading() as conn:
            return int((await conn.execute(query)).scalar_one())
