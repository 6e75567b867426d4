"""The committed horizon: below it no event can still appear, however commits are ordered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared.contracts.streams import todo_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.horizon import Page, committed_horizon, settled_pages
from shared.eventstore.queries import EventQueries
from shared.eventstore.store import EventStore
from tests.support.stores import WAIT_S, deleted, until_blocked_or_done


def store_pages(store: EventStore) -> Callable[[int], Awaitable[Page]]:
    """Read the store two events a page."""

    async def read_page(after: int) -> Page:
        return await EventQueries(store).read_all(after=after, limit=2)

    return read_page


async def append(store: EventStore, stream_id: str) -> None:
    async with store.transaction() as conn:
        await store.append(conn, stream_id, 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)


class TestCommittedHorizon:
    async def test_an_empty_log_has_its_horizon_at_zero(self, store: EventStore) -> None:
        assert await committed_horizon(store.engine, store.tables.events) == 0

    async def test_with_no_append_open_the_horizon_is_the_highest_position(
        self, store: EventStore
    ) -> None:
        for number in range(3):
            await append(store, todo_stream_id(number))

        assert await committed_horizon(store.engine, store.tables.events) == 3

    async def test_the_horizon_waits_for_an_append_that_took_a_lower_position(
        self, postgres_store: EventStore, postgres_schema: str
    ) -> None:
        store = postgres_store
        async with store.engine.connect() as early:
            transaction = await early.begin()
            # takes position 1 but commits after position 2
            await store.append(early, todo_stream_id(1), 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)
            await append(store, todo_stream_id(2))
            horizon = asyncio.create_task(committed_horizon(store.engine, store.tables.events))
            await until_blocked_or_done(store.engine, postgres_schema, horizon)
            waited = not horizon.done()
            await transaction.commit()
        settled = [position for position, _ in await EventQueries(store).read_all(after=0)]

        assert waited
        assert await horizon == 2
        assert settled == [1, 2]

    async def test_an_append_rolled_back_leaves_no_gap_to_wait_for(
        self, postgres_store: EventStore, postgres_schema: str
    ) -> None:
        store = postgres_store
        async with store.engine.connect() as early:
            transaction = await early.begin()
            await store.append(early, todo_stream_id(1), 0, [deleted(1)], origin=ANONYMOUS_ORIGIN)
            await append(store, todo_stream_id(2))
            horizon = asyncio.create_task(committed_horizon(store.engine, store.tables.events))
            await until_blocked_or_done(store.engine, postgres_schema, horizon)
            await transaction.rollback()

        assert await horizon == 2
        # the horizon's lock is gone with it: appends go on
        await asyncio.wait_for(append(store, todo_stream_id(3)), timeout=WAIT_S)
        assert await committed_horizon(store.engine, store.tables.events) == 3


class TestSettledPages:
    async def test_pages_stop_at_the_horizon(self, store: EventStore) -> None:
        for number in range(5):
            await append(store, todo_stream_id(number))

        pages = [
            [position for position, _ in page]
            async for page in settled_pages(store_pages(store), after=0, horizon=3)
        ]

        assert pages == [[1, 2], [3]]

    async def test_nothing_is_read_at_or_past_the_horizon(self, store: EventStore) -> None:
        await append(store, todo_stream_id(1))

        pages = [page async for page in settled_pages(store_pages(store), after=1, horizon=1)]

        assert pages == []
