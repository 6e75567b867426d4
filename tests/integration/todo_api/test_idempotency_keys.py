"""Idempotency-Key on the two POSTs that create things: a retry gets the first answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.todo_http import TODOS, Client, error_of, listed

ICAL = f"{TODOS}/ical"


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def answer(client: Client, path: str, key: str, **body: Any) -> tuple[int, Any]:
    response = await client.post(path, json=body or None, headers=keyed(key))
    return response.status, await response.json()


class TestCreateTodo:
    async def test_a_retry_answers_the_first_todo_and_creates_no_second(
        self, client: Client
    ) -> None:
        first = await answer(client, TODOS, "create-1", title="Water the plants")
        again = await answer(client, TODOS, "create-1", title="Water the plants")

        assert first[0] == 201
        assert again == first
        assert len(await listed(client)) == 1

    async def test_concurrent_requests_with_one_key_create_one_todo(self, client: Client) -> None:
        answers = await asyncio.gather(
            *(answer(client, TODOS, "create-2", title="Water") for _ in range(5))
        )

        assert {status for status, _ in answers} == {201}
        assert len({body["id"] for _, body in answers}) == 1
        assert len(await listed(client)) == 1

    async def test_the_key_with_another_body_is_refused_with_422(self, client: Client) -> None:
        await answer(client, TODOS, "create-3", title="Water")

        response = await client.post(TODOS, json={"title": "Feed"}, headers=keyed("create-3"))

        assert "Idempotency-Key" in await error_of(response, 422)
        assert [todo["title"] for todo in await listed(client)] == ["Water"]

    async def test_requests_without_a_key_each_create(self, client: Client) -> None:
        for _ in range(2):
            await client.post(TODOS, json={"title": "Water"})

        assert len(await listed(client)) == 2

    @pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
    async def test_a_malformed_key_is_a_400(self, client: Client, key: str) -> None:
        response = await client.post(TODOS, json={"title": "Water"}, headers=keyed(key))

        assert "Idempotency-Key" in await error_of(response, 400)
        assert await listed(client) == []


class TestRequestCalendar:
    async def test_concurrent_requests_with_one_key_start_one_job(self, client: Client) -> None:
        answers = await asyncio.gather(*(answer(client, ICAL, "ical-1") for _ in range(5)))

        assert {status for status, _ in answers} == {202}
        assert len({body["task_id"] for _, body in answers}) == 1

    async def test_a_retry_after_the_first_answer_answers_the_same_job(
        self, client: Client
    ) -> None:
        first = await answer(client, ICAL, "ical-2")
        again = await answer(client, ICAL, "ical-2")
        other = await answer(client, ICAL, "ical-3")

        assert again == first
        assert other[1]["task_id"] != first[1]["task_id"]

    async def test_a_key_used_to_create_a_todo_is_refused_for_a_calendar(
        self, client: Client
    ) -> None:
        await answer(client, TODOS, "shared-key", title="Water")

        response = await client.post(ICAL, headers=keyed("shared-key"))

        await error_of(response, 422)
