"""Create, read, update and delete one todo over HTTP: what each answers and keeps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from shared.clock import utcnow
from shared.settings import Settings
from tests.support.todo_http import (
    FIELDS,
    NOT_FOUND,
    TODOS,
    Client,
    assert_naive_iso,
    create,
    error_of,
    listed,
)


class TestGetTodo:
    async def test_returns_the_todo(self, client: Client) -> None:
        created = await create(client, title="one", description="first")

        response = await client.get(f"{TODOS}/1")

        assert response.status == 200
        assert await response.json() == created

    @pytest.mark.parametrize(
        "todo_id", ["2", "0", "-1", "abc", "1.0", "9223372036854775807", "9223372036854775808"]
    )
    async def test_an_unknown_or_impossible_id_is_not_found(
        self, client: Client, todo_id: str
    ) -> None:
        await create(client)

        response = await client.get(f"{TODOS}/{todo_id}")

        await error_of(response, 404)
        assert await response.json() == NOT_FOUND

    async def test_a_huge_id_is_not_found(self, client: Client) -> None:
        response = await client.get(f"{TODOS}/{'9' * 400}")

        assert await error_of(response, 404) == NOT_FOUND["error"]


class TestCreateTodo:
    async def test_answers_201_with_every_field_and_server_set_ones(self, client: Client) -> None:
        before = utcnow()
        response = await client.post(
            TODOS,
            json={
                "title": "Buy milk",
                "description": "two litres",
                "completed": True,
                "deadline_at": "2023-02-27T00:00:00",
            },
        )
        after = utcnow()

        assert response.status == 201
        assert response.content_type == "application/json"
        body = await response.json()
        assert set(body) == FIELDS
        assert {k: body[k] for k in FIELDS - {"created_at", "updated_at"}} == {
            "id": 1,
            "title": "Buy milk",
            "description": "two litres",
            "completed": True,
            "deadline_at": "2023-02-27T00:00:00",
        }
        assert_naive_iso(body["created_at"], before, after)
        assert body["updated_at"] == body["created_at"]

    async def test_defaults_description_to_null_completed_to_false_and_deadline_to_null(
        self, client: Client
    ) -> None:
        body = await create(client, title="minimal")

        assert (body["description"], body["completed"], body["deadline_at"]) == (None, False, None)

    async def test_ids_count_up_from_one(self, client: Client) -> None:
        assert [(await create(client))["id"] for _ in range(3)] == [1, 2, 3]

    async def test_the_created_todo_is_what_get_and_list_return(self, client: Client) -> None:
        created = await create(client, deadline_at="2024-04-17T14:00:00.123456")

        assert await (await client.get(f"{TODOS}/1")).json() == created
        assert await listed(client) == [created]

    @pytest.mark.parametrize(
        ("sent", "stored"),
        [
            ("2023-02-27T00:00:00", "2023-02-27T00:00:00"),
            ("2024-04-17 14:00:00.000", "2024-04-17T14:00:00"),
            ("2024-04-17T14:00:00.5", "2024-04-17T14:00:00.500000"),
            ("2024-04-17T14:00:00Z", "2024-04-17T14:00:00"),
            ("2024-04-17T14:00:00+10:00", "2024-04-17T04:00:00"),
            ("2024-04-17T14:00:00.250-02:00", "2024-04-17T16:00:00.250000"),
        ],
    )
    async def test_normalises_the_deadline_to_naive_utc(
        self, client: Client, sent: str, stored: str
    ) -> None:
        created = await create(client, deadline_at=sent)

        assert created["deadline_at"] == stored
        assert (await listed(client))[0]["deadline_at"] == stored

    async def test_keeps_unicode_text_as_sent(self, client: Client) -> None:
        created = await create(client, title="café ✓ 𝄞", description='quote " and \\')

        assert (await listed(client))[0]["title"] == created["title"] == "café ✓ 𝄞"
        assert created["description"] == 'quote " and \\'


class TestUpdateTodo:
    async def test_changes_only_the_fields_sent(self, client: Client) -> None:
        created = await create(
            client, title="old", description="keep", deadline_at="2024-04-17T14:00:00"
        )

        response = await client.put(f"{TODOS}/1", json={"title": "new", "completed": True})

        assert response.status == 200
        body = await response.json()
        assert body == {
            **created,
            "title": "new",
            "completed": True,
            "updated_at": body["updated_at"],
        }
        assert await (await client.get(f"{TODOS}/1")).json() == body

    async def test_moves_updated_at_forward_and_keeps_created_at(self, client: Client) -> None:
        created = await create(client)

        body = await (await client.put(f"{TODOS}/1", json={"completed": True})).json()

        assert body["created_at"] == created["created_at"]
        assert_naive_iso(
            body["updated_at"], datetime.fromisoformat(created["updated_at"]), utcnow()
        )
        assert body["updated_at"] != created["updated_at"]

    async def test_a_change_to_nothing_new_leaves_updated_at_alone(self, client: Client) -> None:
        created = await create(client, title="same")

        response = await client.put(f"{TODOS}/1", json={"title": "same"})

        assert response.status == 200
        assert await response.json() == created

    async def test_null_clears_the_description_and_deadline(self, client: Client) -> None:
        await create(client, description="d", deadline_at="2024-04-17T14:00:00")

        response = await client.put(f"{TODOS}/1", json={"description": None, "deadline_at": None})

        body = await response.json()
        assert (body["description"], body["deadline_at"]) == (None, None)

    async def test_normalises_a_new_deadline(self, client: Client) -> None:
        await create(client)

        response = await client.put(f"{TODOS}/1", json={"deadline_at": "2024-04-17 14:00:00Z"})

        assert (await response.json())["deadline_at"] == "2024-04-17T14:00:00"

    @pytest.mark.parametrize(
        "body",
        [
            {"id": 2},
            {"title": None},
            {"title": ""},
            {"title": "t" * 81},
            {"completed": None},
            {"completed": "true"},
            {"description": "d" * 121},
            {"deadline_at": "later"},
            {"created_at": "2023-02-27T00:00:00"},
            {"updated_at": "2023-02-27T00:00:00"},
            {"title": "fine", "unknown": 1},
        ],
    )
    async def test_refuses_a_bad_body_and_leaves_the_todo_unchanged(
        self, client: Client, body: dict[str, Any]
    ) -> None:
        created = await create(client, title="untouched")

        await error_of(await client.put(f"{TODOS}/1", json=body), 400)

        assert await listed(client) == [created]

    @pytest.mark.parametrize("todo_id", ["2", "0", "abc", "9" * 30])
    async def test_a_missing_todo_is_not_found(self, client: Client, todo_id: str) -> None:
        await create(client)

        response = await client.put(f"{TODOS}/{todo_id}", json={"title": "x"})

        assert await error_of(response, 404) == NOT_FOUND["error"]

    async def test_a_deleted_todo_cannot_be_updated(self, client: Client) -> None:
        await create(client)
        await client.delete(f"{TODOS}/1")

        response = await client.put(f"{TODOS}/1", json={"title": "back"})

        assert await error_of(response, 404) == NOT_FOUND["error"]
        assert await listed(client) == []


class TestDeleteTodo:
    async def test_answers_with_the_deleted_todo_which_is_then_gone(self, client: Client) -> None:
        created = await create(client, title="doomed")
        kept = await create(client, title="kept")

        response = await client.delete(f"{TODOS}/1")

        assert response.status == 200
        assert await response.json() == created
        await error_of(await client.get(f"{TODOS}/1"), 404)
        assert await listed(client) == [kept]

    @pytest.mark.parametrize("todo_id", ["5", "0", "abc", "9" * 30])
    async def test_a_missing_todo_answers_200_with_an_empty_object(
        self, client: Client, todo_id: str
    ) -> None:
        await create(client)

        response = await client.delete(f"{TODOS}/{todo_id}")

        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {}
        assert len(await listed(client)) == 1

    async def test_deleting_twice_answers_an_empty_object_the_second_time(
        self, client: Client
    ) -> None:
        await create(client)
        await client.delete(f"{TODOS}/1")

        assert await (await client.delete(f"{TODOS}/1")).json() == {}


class TestIds:
    async def test_ids_of_deleted_todos_are_never_handed_out_again(self, client: Client) -> None:
        await create(client)
        await create(client)
        await client.delete(f"{TODOS}/2")
        await client.delete(f"{TODOS}/1")

        assert (await create(client))["id"] == 3

    async def test_ids_keep_counting_after_a_restart(self, service_settings: Settings) -> None:
        async with TestClient(TestServer(create_app(service_settings))) as first:
            await create(first)
            await first.delete(f"{TODOS}/1")

        async with TestClient(TestServer(create_app(service_settings))) as second:
            assert (await create(second))["id"] == 2
