"""The event log: append-only streams with optimistic concurrency.

An append queues the events to publish in the outbox table in its own transaction, so an event is
stored and queued, or neither. Reading the outbox is shared/messaging/outbox.py's job, the inbox
shared/messaging/inbox.py's, and operators' queries of the whole log shared/eventstore/queries.py's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    literal_column,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.contracts.envelope import Envelope, wrap
from shared.contracts.events import CALENDAR_EVENT_TYPES, AnyEvent
from shared.contracts.tenancy import Origin
from shared.eventstore.direct_reads import DirectRead, ReadConnections
from shared.eventstore.direct_writes import DirectWrite
from shared.eventstore.leases import lease_table
from shared.eventstore.write_turns import WriteTurns

# a transaction's connection holds here the outbox rows it has queued
_QUEUED = "taskoverflow.outbox_queued"
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY
Position = BigInteger().with_variant(Integer(), "sqlite")


# what the log keeps of an envelope (the same one: all of it)
Keep = Callable[[Envelope], Envelope]
# the other way: stored envelopes as they were published (a service whose log keeps less)
PublishedForm = Callable[["EventStore", Sequence[Envelope]], Awaitable[list[Envelope]]]


class OutboxRow(NamedTuple):
    """One event an append queued to publish: its log position, type and envelope JSON."""

    position: int
    type: str
    body: str


# told, after each commit that queued events, the outbox rows it committed
OutboxListener = Callable[[Sequence[OutboxRow]], None]


class ConcurrencyError(Exception):
    """Someone appended to the stream since it was loaded."""


@dataclass(frozen=True)
class StoreTables:
    events: Table
    outbox: Table
    inbox: Table
    relay_lease: Table


def store_tables(metadata: MetaData, owner: str) -> StoreTables:
    """Declare one service's events, outbox and inbox tables, named after the service."""
    events = Table(
        f"{owner}_events",
        metadata,
        Column("position", Position, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("stream_id", String(200), nullable=False),
        Column("stream_version", Integer, nullable=False),
        Column("type", String(64), nullable=False),
        Column("occurred_at", DateTime, nullable=False),
        Column("correlation_id", String(36), index=True),
        Column("body", Text, nullable=False),
        UniqueConstraint("stream_id", "stream_version", name=f"{owner}_stream_version_key"),
    )
    # calendar jobs' events by their time, and no other event: the expiry of jobs past their
    # retention finds them without reading the rest of the log (todo events are kept for good).
    # An index changes no row, so no schema version: an older database gains it at start
    job_events = of_types(events, CALENDAR_EVENT_TYPES)
    Index(
        f"{owner}_job_events_by_time",
        events.c.occurred_at,
        postgresql_where=job_events,
        sqlite_where=job_events,
    )
    # rows are deleted once published, so a late commit can never be skipped by a cursor
    outbox = Table(
        f"{owner}_outbox",
        metadata,
        Column("position", Position, primary_key=True, autoincrement=False),
        Column("type", String(64), nullable=False),
        Column("body", Text, nullable=False),
    )
    inbox = Table(
        f"{owner}_inbox",
        metadata,
        Column("consumer", String(64), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        # when the first delivery was handled: the row is kept until no duplicate can arrive
        Column("handled_at", DateTime, nullable=False, index=True),
    )
    # which of several instances' relays publishes the outbox now (shared/messaging/relay_lease.py)
    relay_lease = lease_table(metadata, f"{owner}_relay_lease")
    return StoreTables(events, outbox, inbox, relay_lease)


def of_types(events: Table, types: Sequence[str]) -> ColumnElement[bool]:
    """The log's events of these types. The names are written into the statement, never bound:
    only then can PostgreSQL's cached plans and SQLite use a partial index on them."""
    if not all(name.isalpha() for name in types):
        raise ValueError(f"event types are names: {types!r}")
    return events.c.type.in_([literal_column(f"'{name}'") for name in types])


class EventStore:
    """Append and load events; callers add their projection writes to the same transaction."""

    def __init__(
        self, engine: AsyncEngine, tables: StoreTables, *, routed: Collection[str] | None = None
    ) -> None:
        """`routed`: the event types some queue subscribes to (None: all of them).

        Only those go into the outbox: publishing an event no queue receives costs a request and
        delivers nothing. The log keeps every event, so `republish` can backfill a new subscriber.
        """
        self.engine = engine
        self.tables = tables
        # on a SQLite file: connections of its own for the hottest reads (direct_reads.py)
        self.direct_reads = ReadConnections.of(engine)
        self._routed = None if routed is None else frozenset(routed)
        self._outbox_listeners: list[OutboxListener] = []
        # built once: a statement given its values at execution is compiled once and cached;
        # these two run on SQLite's own connection there (direct_writes.py)
        self._insert_event = DirectWrite(tables.events.insert())
        self._insert_outbox = DirectWrite(tables.outbox.insert())
        self._load_stream = DirectRead(
            select(tables.events.c.body)
            .where(tables.events.c.stream_id == bindparam("stream"))
            .order_by(tables.events.c.stream_version)
        )
        # a single SELECT needs no transaction around it: on PostgreSQL that saves the BEGIN and
        # ROLLBACK round trips of each read (SQLite reads begin no transaction anyway)
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        # SQLite has one writer at a time: a process's write transactions take turns
        self._write_turns = WriteTurns(engine) if engine.dialect.name == "sqlite" else None

    def on_outbox_commit(self, listener: OutboxListener) -> None:
        """Call `listener` after each commit that queued events to publish, with the outbox rows
        it committed (the relay's nudge)."""
        self._outbox_listeners.append(listener)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: commit on success, roll back on any error."""
        async with self._write_connection() as conn, conn.begin():
            conn.info.pop(_QUEUED, None)
            yield conn
            queued: list[OutboxRow] = conn.info.pop(_QUEUED, [])
        # committed: whoever publishes the outbox need not wait for its next poll
        if queued:
            for listener in self._outbox_listeners:
                listener(queued)

    def reading(self) -> AsyncConnection:
        """A connection for reads of one statement each, outside any transaction."""
        return self._reader.connect()

    async def close(self) -> None:
        """Close its connections: the direct reads' and the engine's pool."""
        if self.direct_reads is not None:
            self.direct_reads.close()
        await self.engine.dispose()

    def _write_connection(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        if self._write_turns is None:
            return self.engine.connect()
        return self._write_turns.turn()

    async def append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        events: Sequence[AnyEvent],
        *,
        origin: Origin,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
        kept: Keep | None = None,
    ) -> list[Envelope]:
        """Append after `expected_version`, the version the caller loaded (0: a new stream), as
        `origin`'s (its tenant's data, its actor's doing). `kept` says what the log keeps of
        an event when less than what is published: the outbox gets the event whole.

        Streams only grow, so a stale version is one already taken: the insert conflicts on the
        (stream, version) key and raises ConcurrencyError, with no read of the stream first.
        """
        envelopes = [
            wrap(
                event,
                stream_id=stream_id,
                stream_version=expected_version + offset,
                origin=origin,
                correlation_id=correlation_id,
                causation_id=causation_id,
            )
            for offset, event in enumerate(events, start=1)
        ]
        await self.insert(conn, envelopes, publish=True, kept=kept)
        return envelopes

    async def insert(
        self,
        conn: AsyncConnection,
        envelopes: Iterable[Envelope],
        *,
        publish: bool,
        kept: Keep | None = None,
    ) -> None:
        """Store envelopes as they are (imports too), or as `kept` makes them, optionally
        queueing them whole to publish."""
        for envelope in envelopes:
            body = envelope.to_json()
            stored = body if kept is None else _kept_body(kept, envelope, body)
            try:
                position = await self._insert_event.insert(conn, event_columns(envelope, stored))
            except IntegrityError as exc:
                raise ConcurrencyError(
                    f"{envelope.stream_id} version {envelope.stream_version} exists"
                ) from exc
            if publish and (self._routed is None or envelope.type in self._routed):
                row = {"position": position, "type": envelope.type, "body": body}
                await self._insert_outbox.run(conn, row)
                # the transaction's rows, told to the listeners once it commits (no code here
                # rolls back to a savepoint, so each row listed is a row committed)
                conn.info.setdefault(_QUEUED, []).append(OutboxRow(position, envelope.type, body))

    async def load(self, stream_id: str, conn: AsyncConnection | None = None) -> list[Envelope]:
        """The stream's events in version order, inside `conn`'s transaction when given."""
        stream = {"stream": stream_id}
        rows = await self._load_stream.rows(self if conn is None else conn, stream)
        return [Envelope.from_json(body) for (body,) in rows]


def _kept_body(kept: Keep, envelope: Envelope, body: str) -> str:
    as_kept = kept(envelope)
    return body if as_kept is envelope else as_kept.to_json()


def event_columns(envelope: Envelope, body: str) -> dict[str, object]:
    """The log row of `envelope`, stored as `body`."""
    return {
        "event_id": str(envelope.event_id),
        "stream_id": envelope.stream_id,
        "stream_version": envelope.stream_version,
        "type": envelope.type,
        "occurred_at": envelope.occurred_at,
        "correlation_id": str(envelope.correlation_id) if envelope.correlation_id else None,
        "body": body,
    }
