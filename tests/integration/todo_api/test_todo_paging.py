"""Paging the todo list: `limit` and `after_id`, optional; without them the whole list."""

from __future__ import annotations

import pytest
from aiohttp import ClientResponse
from yarl import URL

from tests.support.todo_http import TODOS, Client, create, error_of, titles


def next_page(response: ClientResponse) -> str:
    """The path of the page the Link header names next (an absolute URL, as the client sees it)."""
    url = URL(str(response.links["next"]["url"]))
    assert url.is_absolute()
    return url.path_qs


class TestPaging:
    async def test_pages_follow_one_another_by_the_link_to_the_next(self, client: Client) -> None:
        for n in range(5):
            await create(client, title=f"todo {n}")

        first = await client.get(f"{TODOS}?limit=2")
        second = await client.get(next_page(first))
        third = await client.get(next_page(second))

        assert [t["id"] for t in await first.json()] == [1, 2]
        assert [t["id"] for t in await second.json()] == [3, 4]
        assert [t["id"] for t in await third.json()] == [5]
        # a page that is not full is the last: no link onwards
        assert "next" not in third.links

    async def test_a_page_combines_with_the_filters(self, client: Client) -> None:
        for n in range(6):
            await create(client, title=f"todo {n}", completed=n % 2 == 0)

        page = await client.get(f"{TODOS}?completed=true&limit=2&after_id=1")

        assert [t["title"] for t in await page.json()] == ["todo 2", "todo 4"]
        assert next_page(page) == f"{TODOS}?completed=true&limit=2&after_id=5"

    async def test_without_paging_the_whole_list_comes_back_with_no_link(
        self, client: Client
    ) -> None:
        for n in range(3):
            await create(client, title=f"todo {n}")

        response = await client.get(TODOS)

        assert len(await response.json()) == 3
        assert "Link" not in response.headers
        assert await titles(client, "?after_id=2") == ["todo 2"]

    @pytest.mark.parametrize(
        "query",
        ["limit=0", "limit=1001", "limit=-1", "limit=two", "after_id=-1", "after_id=1e3", "limit="],
    )
    async def test_a_bad_page_is_a_400_naming_the_parameter(
        self, client: Client, query: str
    ) -> None:
        message = await error_of(await client.get(f"{TODOS}?{query}"), 400)

        assert query.split("=")[0] in message
