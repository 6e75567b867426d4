"""Rebuild a projection from the service's own event log, swapped in atomically.

The rows are built in `<table>_rebuild` while the service keeps running, from the events up to the
committed horizon (`shared/eventstore/horizon.py`), so none that commit late below it are passed
over. One transaction then takes the write lock, folds in every event above that horizon, drops the
live table and renames the new one into its place: readers see the old projection or the new one,
never a half-built one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from sqlalchemy import MetaData, Table, delete, insert, quoted_name, text
from sqlalchemy.ext.asyncio import AsyncConnection

from scripts.replay.projections import F, Fold, Projection, Row
from shared.contracts.envelope import Envelope
from shared.eventstore.horizon import Page, committed_horizon, settled_pages
from shared.eventstore.queries import EventQueries
from shared.eventstore.store import EventStore

PAGE = 1000
# the rebuilt table's name, and its indexes', while they sit beside the live ones
REBUILD_SUFFIX = "_rebuild"
# folds of the unlocked phase: the first one, then up to two for what was appended meanwhile
CHASES = 3
INSERT_BATCH = 500
SHOWN_ROW_IDS = 10


@dataclass(frozen=True)
class Difference:
    before: int
    after: int
    missing: list[Any] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.missing or self.extra or self.changed)


async def rebuild(
    store: EventStore, projection: Projection[F], console: Console, *, dry_run: bool = False
) -> Difference:
    """Refold the projection; with `dry_run`, only say what would change."""
    fold = projection.new_fold()
    horizon = await _fold_settled(store, fold)
    if dry_run:
        async with store.engine.connect() as conn:
            difference = compare(projection, await projection.read_rows(conn), _rows(fold))
        _report(console, projection, difference, dry_run=True)
        return difference
    rebuilt = _rebuild_table(projection.table)
    await _build(store, rebuilt, _rows(fold))
    async with store.transaction() as conn:
        await _lock_writers(conn, projection.table)
        before = await projection.read_rows(conn)
        touched = await _catch_up(conn, store, fold, horizon)
        await _write(conn, rebuilt, touched, fold)
        await _swap(conn, projection.table, rebuilt)
        await projection.after_swap(conn, fold)
        difference = compare(projection, before, await projection.read_rows(conn))
    _report(console, projection, difference, dry_run=False)
    return difference


def _rebuild_table(live: Table) -> Table:
    """The live table's definition under another name; its indexes too, whose names are unique
    in the schema (the swap gives them their names back)."""
    rebuilt = live.to_metadata(MetaData(), name=f"{live.name}{REBUILD_SUFFIX}")
    for index in rebuilt.indexes:
        index.name = quoted_name(f"{index.name}{REBUILD_SUFFIX}", quote=None)
    return rebuilt


async def _fold_settled(store: EventStore, fold: Fold) -> int:
    """Fold the log up to a committed horizon, and return it; everything above is left to fold."""
    horizon = 0
    # what was appended meanwhile is chased, a few times at most, to shorten the locked phase
    for _ in range(CHASES):
        folded_to, horizon = horizon, await committed_horizon(store.engine, store.tables.events)
        if await _fold_between(store, fold, folded_to, horizon) < PAGE:
            break
    return horizon


async def _fold_between(store: EventStore, fold: Fold, after: int, horizon: int) -> int:
    queries = EventQueries(store)

    async def read_page(after: int) -> Page:
        return await queries.read_all(after=after, limit=PAGE)

    folded = 0
    async for page in settled_pages(read_page, after, horizon):
        for _, envelope in page:
            fold.apply(envelope)
        folded += len(page)
    return folded


def _rows(fold: Fold) -> dict[Any, Row]:
    return {row_id: row for row_id in fold.row_ids() if (row := fold.row(row_id)) is not None}


async def _build(store: EventStore, rebuilt: Table, rows: dict[Any, Row]) -> None:
    async with store.transaction() as conn:
        await conn.run_sync(lambda sync: rebuilt.drop(sync, checkfirst=True))
        await conn.run_sync(rebuilt.create)
    values = list(rows.values())
    for start in range(0, len(values), INSERT_BATCH):
        async with store.transaction() as conn:
            await conn.execute(insert(rebuilt), values[start : start + INSERT_BATCH])


async def _lock_writers(conn: AsyncConnection, live: Table) -> None:
    """Hold off every writer of the projection until the swap commits."""
    quoted = conn.dialect.identifier_preparer.quote(live.name)
    if conn.dialect.name == "sqlite":
        # pysqlite begins a transaction only before DML: begin it now so the DDL below is inside
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # writers update the projection in their append's transaction, so they queue here
        await conn.execute(text(f"LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE"))


async def _catch_up(conn: AsyncConnection, store: EventStore, fold: Fold, after: int) -> set[Any]:
    """Fold every event committed above the horizon `after`; return the ids of the rows
    they touch.

    Appends still in flight are not visible: their writers update the projection in the same
    transaction, so either the lock waited for them or they queue on it and then update the
    swapped-in table themselves.
    """
    events = store.tables.events
    touched: set[Any] = set()
    query = events.select().with_only_columns(events.c.body).where(events.c.position > after)
    for body in (await conn.execute(query.order_by(events.c.position))).scalars():
        row_id = fold.apply(Envelope.from_json(body))
        if row_id is not None:
            touched.add(row_id)
    return touched


async def _write(conn: AsyncConnection, rebuilt: Table, row_ids: Iterable[Any], fold: Fold) -> None:
    row_ids = list(row_ids)
    if not row_ids:
        return
    id_column = next(iter(rebuilt.primary_key.columns))
    await conn.execute(delete(rebuilt).where(id_column.in_(row_ids)))
    rows = [row for row_id in row_ids if (row := fold.row(row_id)) is not None]
    if rows:
        await conn.execute(insert(rebuilt), rows)


async def _swap(conn: AsyncConnection, live: Table, rebuilt: Table) -> None:
    # identifiers cannot be bound parameters; both names come from our own table definitions
    quote = conn.dialect.identifier_preparer.quote
    await conn.execute(text(f"DROP TABLE {quote(live.name)}"))
    await conn.execute(text(f"ALTER TABLE {quote(rebuilt.name)} RENAME TO {quote(live.name)}"))
    if conn.dialect.name == "postgresql":
        # the primary key index keeps the name it was created with; give back the usual one
        old, new = quote(f"{rebuilt.name}_pkey"), quote(f"{live.name}_pkey")
        await conn.execute(text(f"ALTER INDEX {old} RENAME TO {new}"))
    await _restore_index_names(conn, live, rebuilt)


async def _restore_index_names(conn: AsyncConnection, live: Table, rebuilt: Table) -> None:
    """Give the swapped-in table's indexes the live names, which the next rebuild's copy needs
    free; SQLite cannot rename an index, so it builds them again under their names."""
    quote = conn.dialect.identifier_preparer.quote
    for index in rebuilt.indexes:
        old, new = str(index.name), str(index.name).removesuffix(REBUILD_SUFFIX)
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"ALTER INDEX {quote(old)} RENAME TO {quote(new)}"))
        else:
            await conn.execute(text(f"DROP INDEX {quote(old)}"))
    if conn.dialect.name != "postgresql":
        for index in live.indexes:
            await conn.run_sync(index.create)


def compare(
    projection: Projection[Any], before: dict[Any, Row], after: dict[Any, Row]
) -> Difference:
    def facts(row: Row) -> Row:
        return {name: value for name, value in row.items() if name not in projection.bookkeeping}

    return Difference(
        before=len(before),
        after=len(after),
        missing=sorted(row_id for row_id in after if row_id not in before),
        extra=sorted(row_id for row_id in before if row_id not in after),
        changed=sorted(
            row_id
            for row_id in after
            if row_id in before and facts(before[row_id]) != facts(after[row_id])
        ),
    )


def _report(
    console: Console, projection: Projection[Any], difference: Difference, *, dry_run: bool
) -> None:
    prefix = "dry run: " if dry_run else ""
    after = "would be" if dry_run else "after"
    lines = [
        f"{prefix}{projection.table.name}: {difference.before} rows before, "
        f"{difference.after} {after}"
    ]
    if not difference.any:
        lines.append("no difference: the projection matched the event log")
    for label, done, row_ids in (
        ("missing", "restored", difference.missing),
        ("not in the event log", "removed", difference.extra),
        ("different from the event log", "corrected", difference.changed),
    ):
        if row_ids:
            shown = ", ".join(str(row_id) for row_id in row_ids[:SHOWN_ROW_IDS])
            hidden = len(row_ids) - SHOWN_ROW_IDS
            more = f" and {hidden} more" if hidden > 0 else ""
            outcome = f"would be {done}" if dry_run else done
            lines.append(f"{len(row_ids)} rows {label} ({outcome}): {shown}{more}")
    for line in lines:
        console.print(line, markup=False, highlight=False)
