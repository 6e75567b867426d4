"""Events as JSON Lines: export for archiving, import to restore or to move between environments.

An import skips events whose id is already stored, so running it twice changes nothing. Imported
events are not published (they were, where they came from); `republish` sends them if needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import select

from scripts.replay.errors import OperatorError
from scripts.replay.targets import Service
from shared.contracts.envelope import Envelope
from shared.eventstore.horizon import Page, committed_horizon, settled_pages
from shared.eventstore.queries import EventFilter, EventQueries
from shared.eventstore.store import ConcurrencyError, EventStore
from shared.messaging.inbox import record_processed

PAGE = 1000
IMPORT_BATCH = 500


async def export_events(store: EventStore, selection: EventFilter, out: TextIO) -> int:
    """Write the selected events committed before the export began, one per line, in order."""

    queries = EventQueries(store)

    async def read_page(after: int) -> Page:
        return await queries.read_matching(selection, after, PAGE)

    # one horizon, taken first: an export is a cut of the log that ends even while writers go on
    horizon = await committed_horizon(store.engine, store.tables.events)
    written = 0
    async for page in settled_pages(read_page, selection.from_position - 1, horizon):
        out.writelines(envelope.to_json() + "\n" for _, envelope in page)
        written += len(page)
    out.flush()
    return written


@dataclass
class Imported:
    added: int = 0
    skipped: int = 0


async def import_events(
    store: EventStore, service: Service, lines: Iterable[str], console: Console, *, dry_run: bool
) -> Imported:
    """Store the events not stored yet; with `dry_run`, only count them."""
    outcome = Imported()
    for first_line, batch in _batches(lines):
        fresh = await _not_stored(store, batch)
        outcome.skipped += len(batch) - len(fresh)
        outcome.added += len(fresh)
        if fresh and not dry_run:
            await _store(store, service, fresh, first_line)
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{'dry run: ' if dry_run else ''}{verb} {outcome.added} events into {service.name}, "
        f"skipped {outcome.skipped} already stored",
        markup=False,
        highlight=False,
    )
    return outcome


def _batches(lines: Iterable[str]) -> Iterator[tuple[int, list[Envelope]]]:
    batch: list[Envelope] = []
    first_line = 1
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not batch:
            first_line = number
        batch.append(_parse(number, line))
        if len(batch) == IMPORT_BATCH:
            yield first_line, batch
            batch = []
    if batch:
        yield first_line, batch


def _parse(number: int, line: str) -> Envelope:
    try:
        return Envelope.from_json(line)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "line"
        raise OperatorError(f"line {number} is not an event: {where}: {first['msg']}") from None


async def _not_stored(store: EventStore, batch: list[Envelope]) -> list[Envelope]:
    events = store.tables.events
    ids = [str(envelope.event_id) for envelope in batch]
    query = select(events.c.event_id).where(events.c.event_id.in_(ids))
    async with store.engine.connect() as conn:
        stored = set((await conn.execute(query)).scalars())
    fresh: dict[str, Envelope] = {}
    for envelope in batch:
        # the same event twice in one file counts once
        if str(envelope.event_id) not in stored:
            fresh.setdefault(str(envelope.event_id), envelope)
    return list(fresh.values())


async def _store(store: EventStore, service: Service, fresh: list[Envelope], first: int) -> None:
    try:
        async with store.transaction() as conn:
            await store.insert(conn, fresh, publish=False)
            if service.inbox_consumer:
                # the service consumed these where they came from: a redelivery must be a duplicate
                for envelope in fresh:
                    await record_processed(
                        conn, store.tables.inbox, service.inbox_consumer, envelope.event_id
                    )
    except ConcurrencyError as exc:
        raise OperatorError(
            f"from line {first} on nothing was imported: {exc} with another event id"
        ) from None
