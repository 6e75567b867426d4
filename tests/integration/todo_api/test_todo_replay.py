"""Dropping the todo projection and refolding the event log gives the same todos."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest
from rich.console import Console
from sqlalchemy import delete, update

from scripts.replay import rebuild
from scripts.replay.projections import PROJECTIONS
from services.todo_api.app_keys import store_key
from services.todo_api.tables import todo_ids, todos
from shared.contracts.events import CalendarRequested
from shared.contracts.streams import calendar_stream_id
from shared.contracts.tenancy import ANONYMOUS_ORIGIN
from shared.eventstore.store import EventStore
from tests.support.todo_http import Client

TODOS = "/api/v1/todos"


@pytest.fixture
def store(client: Client) -> EventStore:
    return client.app[store_key]


async def listed(client: Client) -> list[dict[str, Any]]:
    response = await client.get(TODOS)
    assert response.status == 200
    body: list[dict[str, Any]] = await response.json()
    return body


async def post(client: Client, body: dict[str, Any]) -> None:
    response = await client.post(TODOS, json=body)
    assert response.status == 201, await response.text()


async def put(client: Client, todo_id: int, body: dict[str, Any]) -> None:
    response = await client.put(f"{TODOS}/{todo_id}", json=body)
    assert response.status == 200, await response.text()


async def make_history(client: Client) -> None:
    """Creates, changes and deletes, so every kind of todo event is in the log."""
    await post(client, {"title": "one", "deadline_at": "2024-04-17 14:00:00.000"})
    await post(client, {"title": "two", "description": "to be deleted"})
    await post(client, {"title": "three", "completed": True})
    await post(client, {"title": "four"})
    await put(client, 1, {"completed": True, "description": "done early"})
    await put(client, 3, {"deadline_at": "2024-05-01T09:00:00+02:00", "completed": False})
    await put(client, 1, {"deadline_at": None})
    assert (await client.delete(f"{TODOS}/2")).status == 200
    assert (await client.delete(f"{TODOS}/4")).status == 200


async def damage_projection(store: EventStore) -> None:
    """Make the read model disagree with the log in every way a rebuild must mend."""
    async with store.transaction() as conn:
        await conn.execute(delete(todos).where(todos.c.id == 1))
        await conn.execute(update(todos).where(todos.c.id == 3).values(title="corrupted"))
        await conn.execute(update(todo_ids).values(last_id=0))


async def rebuild_todos(store: EventStore) -> int:
    """The operators' rebuild (scripts/replay) of the todo list; returns the todos after it."""
    difference = await rebuild.rebuild(store, PROJECTIONS["todo_api"], Console(quiet=True))
    return difference.after


class TestRebuildTodos:
    async def test_refolding_the_log_gives_the_same_todo_list(
        self, client: Client, store: EventStore
    ) -> None:
        await make_history(client)
        before = await listed(client)
        await damage_projection(store)
        assert await listed(client) != before

        count = await rebuild_todos(store)

        assert await listed(client) == before
        assert count == len(before) == 2

    async def test_rebuilds_across_many_small_pages(
        self, client: Client, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await make_history(client)
        before = await listed(client)
        monkeypatch.setattr(rebuild, "PAGE", 2)
        await damage_projection(store)

        await rebuild_todos(store)

        assert await listed(client) == before

    async def test_new_ids_continue_after_the_highest_ever_created(
        self, client: Client, store: EventStore
    ) -> None:
        await make_history(client)
        await damage_projection(store)

        await rebuild_todos(store)
        response = await client.post(TODOS, json={"title": "after the rebuild"})

        # todo 4 was deleted, yet its id stays used
        assert (await response.json())["id"] == 5

    async def test_never_moves_the_id_counter_backwards(
        self, client: Client, store: EventStore
    ) -> None:
        await post(client, {"title": "only"})
        async with store.transaction() as conn:
            await conn.execute(update(todo_ids).values(last_id=41))

        await rebuild_todos(store)
        response = await client.post(TODOS, json={"title": "next"})

        assert (await response.json())["id"] == 42

    async def test_rebuilding_twice_changes_nothing(
        self, client: Client, store: EventStore
    ) -> None:
        await make_history(client)
        before = await listed(client)

        assert await rebuild_todos(store) == 2
        assert await rebuild_todos(store) == 2
        assert await listed(client) == before

    async def test_events_of_other_kinds_in_the_log_are_skipped(
        self, client: Client, store: EventStore
    ) -> None:
        await post(client, {"title": "one"})
        before = await listed(client)
        requested = CalendarRequested(
            task_id=uuid4(), requested_at=datetime(2024, 4, 17), todo_count=1
        )
        async with store.transaction() as conn:
            await store.append(
                conn, calendar_stream_id(requested.task_id), 0, [requested], origin=ANONYMOUS_ORIGIN
            )

        assert await rebuild_todos(store) == 1
        assert await listed(client) == before

    async def test_an_empty_log_gives_an_empty_list(
        self, client: Client, store: EventStore
    ) -> None:
        assert await rebuild_todos(store) == 0
        assert await listed(client) == []
        assert (await (await client.post(TODOS, json={"title": "first"})).json())["id"] == 1
