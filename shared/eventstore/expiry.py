"""Keeping storage bounded: rows whose window has passed are deleted in small batches.

Each batch is one short transaction deleting at most `batch_rows` rows, so it never holds many
locks for long, and a pass stopped halfway (a shutdown, an outage) simply resumes at the next.
Several instances may run it at once: on PostgreSQL each batch skips the rows another is
deleting (SKIP LOCKED), and a row already gone is not deleted twice; SQLite has one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Delete, Select, Table, and_, delete, func, select, tuple_

from shared.contracts.events import CALENDAR_EVENT_TYPES
from shared.eventstore.store import EventStore, of_types

logger = logging.getLogger(__name__)


def _as_is(moment: Any) -> Any:
    return moment


@dataclass(frozen=True)
class ExpiringRows:
    """Rows of `table` that may be deleted once `stamp` is `window` old.

    `to_stamp` and `from_stamp` convert a naive UTC datetime to the column's values and back,
    for a column that holds time otherwise (epoch milliseconds, say). `only` narrows them to the
    rows it holds for (some events of a log, say), and `label` names them in the metrics (None:
    the table's name)."""

    table: Table
    stamp: ColumnElement[Any]
    window: timedelta
    to_stamp: Callable[[datetime], Any] = _as_is
    from_stamp: Callable[[Any], datetime] = _as_is
    only: ColumnElement[bool] | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.table.name

    def cutoff(self, now: datetime) -> datetime:
        return now - self.window

    def expired(self, cutoff: datetime) -> ColumnElement[bool]:
        older = self.stamp < self.to_stamp(cutoff)
        return older if self.only is None else and_(older, self.only)

    def oldest(self) -> Select[Any]:
        found = select(func.min(self.stamp))
        return found if self.only is None else found.where(self.only)


OnDeleted = Callable[[str, int], None]


class ExpiryJob:
    """Deletes the expired rows of one service's tables, a batch at a time."""

    def __init__(
        self,
        store: EventStore,
        expiring: Sequence[ExpiringRows],
        *,
        batch_rows: int,
        on_deleted: OnDeleted,
    ) -> None:
        self._store = store
        self._expiring = tuple(expiring)
        self._batch_rows = batch_rows
        self._on_deleted = on_deleted
        self._stop = asyncio.Event()

    async def run_once(self, now: datetime) -> int:
        """Delete every row expired by `now`, batch by batch; how many this instance deleted."""
        total = 0
        for rows in self._expiring:
            statement = self._batch(rows, rows.cutoff(now))
            while not self._stop.is_set():
                async with self._store.transaction() as conn:
                    deleted = (await conn.execute(statement)).rowcount
                if deleted > 0:
                    self._on_deleted(rows.name, deleted)
                    total += deleted
                if deleted < self._batch_rows:
                    break
        return total

    async def lag(self, now: datetime) -> dict[str, float]:
        """Per table, how long its oldest row has been past its window (0: none is)."""
        found: dict[str, float] = {}
        async with self._store.reading() as conn:
            for rows in self._expiring:
                oldest = (await conn.execute(rows.oldest())).scalar_one()
                if oldest is None:
                    found[rows.name] = 0.0
                    continue
                past = (rows.cutoff(now) - rows.from_stamp(oldest)).total_seconds()
                found[rows.name] = max(0.0, past)
        return found

    async def run(self, interval_s: float, clock: Callable[[], datetime]) -> None:
        """A pass every `interval_s` until stopped; a failed pass is tried at the next."""
        while not self._stop.is_set():
            try:
                await self.run_once(clock())
            except Exception as exc:  # an outage, say: the rows wait for the next pass
                logger.warning("expiry pass failed, tried again in %.0f s: %r", interval_s, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    def stop(self) -> None:
        self._stop.set()

    def _batch(self, rows: ExpiringRows, cutoff: datetime) -> Delete:
        table = rows.table
        key = list(table.primary_key.columns)
        doomed = select(*key).where(rows.expired(cutoff)).limit(self._batch_rows)
        if self._store.engine.dialect.name == "postgresql":
            # rows another instance is deleting right now are its to delete
            doomed = doomed.with_for_update(skip_locked=True)
        target = key[0] if len(key) == 1 else tuple_(*key)
        return delete(table).where(target.in_(doomed))


def expiring_leases(table: Table, window: timedelta) -> ExpiringRows:
    """Leases (shared/eventstore/leases.py) that ran out `window` ago: a released one is
    deleted at once, a run-out one stays until then, so a holder paused that long finds it gone,
    as if another had taken it, and stands down."""
    return ExpiringRows(table, table.c.expires_at, window)


def expiring_events(
    events: Table, window: timedelta, types: Sequence[str], *, dialect: str, label: str
) -> ExpiringRows:
    """A log's events of these types stored `window` ago (found through a partial index on
    their time for these types: `of_types`)."""
    only = of_types(events, types)
    if dialect == "sqlite":
        # SQLite gives a new row the highest position plus one: deleting the log's newest event
        # would hand its position out again, behind a reader that has passed it
        newest = select(func.max(events.c.position)).scalar_subquery()
        only = and_(only, events.c.position < newest)
    return ExpiringRows(events, events.c.occurred_at, window, only=only, label=label)


def expiring_job_events(events: Table, window: timedelta, *, dialect: str) -> ExpiringRows:
    """Calendar jobs' events past the job retention (Settings.job_retention): every service's
    log holds some. The window outlasts the duplicate window, so no late delivery of a job
    whose history is gone can arrive."""
    label = events.name.removesuffix("_events") + "_job_events"
    return expiring_events(events, window, CALENDAR_EVENT_TYPES, dialect=dialect, label=label)
