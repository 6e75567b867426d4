"""Listing todos: creation order, and the completion and deadline-window filters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import utcnow
from tests.support.todo_http import (
    FIELDS,
    TODOS,
    Client,
    create,
    error_of,
    iso,
    listed,
    titles,
)


class TestListTodos:
    async def test_an_empty_list_is_an_empty_json_array(self, client: Client) -> None:
        response = await client.get(TODOS)

        assert response.content_type == "application/json"
        assert await response.json() == []

    async def test_lists_todos_in_creation_order(self, client: Client) -> None:
        for title in ("b", "c", "a"):
            await create(client, title=title)

        todos = await listed(client)

        assert [t["title"] for t in todos] == ["b", "c", "a"]
        assert [t["id"] for t in todos] == [1, 2, 3]
        assert all(set(t) == FIELDS for t in todos)

    async def test_filters_by_completion(self, client: Client) -> None:
        await create(client, title="open", completed=False)
        await create(client, title="done", completed=True)
        await create(client, title="also open")

        assert await titles(client, "?completed=true") == ["done"]
        assert await titles(client, "?completed=false") == ["open", "also open"]

    async def test_a_window_keeps_past_and_near_deadlines_and_drops_far_and_missing(
        self, client: Client
    ) -> None:
        now = utcnow()
        await create(client, title="overdue", deadline_at=iso(now - timedelta(days=3)))
        await create(client, title="no deadline")
        await create(client, title="in two days", deadline_at=iso(now + timedelta(days=2)))
        edge = now + timedelta(days=3) - timedelta(minutes=1)
        await create(client, title="just inside", deadline_at=iso(edge))
        beyond = now + timedelta(days=3, hours=1)
        await create(client, title="beyond", deadline_at=iso(beyond))

        assert await titles(client, "?window=3") == ["overdue", "in two days", "just inside"]
        assert await titles(client, "?window=0") == ["overdue"]
        assert await titles(client, "?window=4") == [
            "overdue",
            "in two days",
            "just inside",
            "beyond",
        ]

    async def test_completion_and_window_filters_combine(self, client: Client) -> None:
        soon = iso(utcnow() + timedelta(days=1))
        later = iso(utcnow() + timedelta(days=10))
        await create(client, title="done soon", completed=True, deadline_at=soon)
        await create(client, title="open soon", deadline_at=soon)
        await create(client, title="done later", completed=True, deadline_at=later)
        await create(client, title="done undated", completed=True)

        assert await titles(client, "?completed=true&window=2") == ["done soon"]
        assert await titles(client, "?window=2&completed=false") == ["open soon"]

    @pytest.mark.parametrize(
        "query",
        [
            "completed=yes",
            "completed=True",
            "completed=1",
            "completed=",
            "window=-1",
            "window=1.5",
            "window=soon",
            "window=",
            "window=%EF%BC%91",
            "window=1000001",
            "window=99999999999999999999999",
            "completed=true&window=x",
        ],
    )
    async def test_refuses_other_filter_values(self, client: Client, query: str) -> None:
        await create(client)

        await error_of(await client.get(f"{TODOS}?{query}"), 400)
