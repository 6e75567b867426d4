"""What the todo routes refuse: bad fields, bodies that are not JSON objects, oversize bodies."""

from __future__ import annotations

import io
from typing import Any

import pytest

from shared.web.http import MAX_BODY_BYTES
from tests.support.todo_http import TODOS, Client, create, error_of, listed


class TestCreateFieldRules:
    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"description": "no title"},
            {"title": ""},
            {"title": "   "},
            {"title": "t" * 81},
            {"title": 5},
            {"title": None},
            {"title": True},
            {"title": ["t"]},
            {"title": "nul \u0000 inside"},
            {"title": "t", "description": "d" * 121},
            {"title": "t", "description": 7},
            {"title": "t", "description": "nul \u0000 inside"},
            {"title": "t", "completed": "true"},
            {"title": "t", "completed": 1},
            {"title": "t", "completed": None},
            {"title": "t", "deadline_at": "next week"},
            {"title": "t", "deadline_at": 1713362400},
            {"title": "t", "deadline_at": "0001-01-01T00:00:00+10:00"},
            {"title": "t", "deadline_at": "9999-12-31T23:59:59-10:00"},
            {"title": "t", "id": 1},
            {"title": "t", "created_at": "2023-02-27T00:00:00"},
            {"title": "t", "updated_at": "2023-02-27T00:00:00"},
            {"title": "t", "colour": "red"},
        ],
    )
    async def test_refuses_a_bad_body_and_creates_nothing(
        self, client: Client, body: dict[str, Any]
    ) -> None:
        await error_of(await client.post(TODOS, json=body), 400)

        assert await listed(client) == []

    async def test_accepts_the_longest_title_and_description(self, client: Client) -> None:
        created = await create(client, title="t" * 80, description="d" * 120)

        assert (len(created["title"]), len(created["description"])) == (80, 120)

    async def test_a_refused_body_does_not_use_up_an_id(self, client: Client) -> None:
        await error_of(await client.post(TODOS, json={"title": ""}), 400)

        assert (await create(client))["id"] == 1

    async def test_names_the_offending_field(self, client: Client) -> None:
        response = await client.post(TODOS, json={"title": "t", "id": 9})

        assert "id" in await error_of(response, 400)


class TestRequestBodies:
    async def test_refuses_a_body_that_is_not_declared_json(self, client: Client) -> None:
        response = await client.post(
            TODOS, data='{"title": "t"}', headers={"Content-Type": "text/plain"}
        )

        await error_of(response, 415)
        assert await listed(client) == []

    async def test_refuses_a_body_without_a_content_type(self, client: Client) -> None:
        await create(client)

        response = await client.put(f"{TODOS}/1", data=b'{"title": "t"}')

        await error_of(response, 415)

    async def test_accepts_json_with_a_charset_parameter(self, client: Client) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}

        response = await client.post(TODOS, data=b'{"title": "t"}', headers=headers)

        assert response.status == 201

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"{",
            b'{"title": "t",}',
            b"{'title': 't'}",
            b"\xff\xfe",
            b'{"title": "t"} x',
            b'{"title": "\\ud800"}',
        ],
    )
    async def test_refuses_malformed_json(self, client: Client, raw: bytes) -> None:
        response = await client.post(TODOS, data=raw, headers={"Content-Type": "application/json"})

        await error_of(response, 400)
        assert await listed(client) == []

    @pytest.mark.parametrize(
        "raw", [b"[]", b'[{"title": "t"}]', b'"title"', b"42", b"null", b"true"]
    )
    async def test_refuses_json_that_is_not_an_object(self, client: Client, raw: bytes) -> None:
        await create(client)
        headers = {"Content-Type": "application/json"}

        await error_of(await client.post(TODOS, data=raw, headers=headers), 400)
        await error_of(await client.put(f"{TODOS}/1", data=raw, headers=headers), 400)

    async def test_refuses_a_body_over_one_mebibyte(self, client: Client) -> None:
        raw = f'{{"title": "t", "description": "{"d" * MAX_BODY_BYTES}"}}'.encode()
        headers = {"Content-Type": "application/json"}

        response = await client.post(TODOS, data=io.BytesIO(raw), headers=headers)

        await error_of(response, 413)
        assert await listed(client) == []

    async def test_accepts_a_body_just_under_the_limit_and_judges_its_fields(
        self, client: Client
    ) -> None:
        padding = " " * (MAX_BODY_BYTES - 100)
        raw = f'{{"title": "t",{padding}"description": "d"}}'.encode()

        headers = {"Content-Type": "application/json"}

        response = await client.post(TODOS, data=io.BytesIO(raw), headers=headers)

        assert response.status == 201
