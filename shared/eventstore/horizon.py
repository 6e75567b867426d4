"""The committed horizon: the position up to which a reader of the event log may trust it.

A PostgreSQL position is drawn from a sequence when the row is inserted, so a transaction that took
position 5 can commit after one that took 6: a reader that has passed 6 would never see 5. Below
the horizon no such late commit can appear any more, so paging by position is safe up to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts.envelope import Envelope

Page = list[tuple[int, Envelope]]


async def committed_horizon(engine: AsyncEngine, events: Table) -> int:
    """The highest position at or below which every event is committed or rolled back for good."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # an INSERT holds ROW EXCLUSIVE from before it draws its position until it ends:
            # SHARE waits for every such transaction, and is released by the commit just below
            table = conn.dialect.identifier_preparer.format_table(events)
            await conn.execute(text(f"LOCK TABLE {table} IN SHARE MODE"))
        # SQLite has one writer at a time and gives a row the highest position plus one, so its
        # positions commit in order and the highest one seen is a horizon already
        highest = (await conn.execute(select(func.max(events.c.position)))).scalar_one()
    return int(highest or 0)


async def settled_pages(
    read_page: Callable[[int], Awaitable[Page]], after: int, horizon: int
) -> AsyncIterator[Page]:
    """The pages `read_page(after)` gives, cut at `horizon`: events in (after, horizon] only."""
    while after < horizon and (page := await read_page(after)):
        settled = [(position, envelope) for position, envelope in page if position <= horizon]
        if settled:
            yield settled
        if len(settled) < len(page):
            return
        after = page[-1][0]
