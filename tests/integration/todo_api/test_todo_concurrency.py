"""Concurrent changes to one todo: each is accepted or refused, and the events agree."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from aiohttp import ClientResponse

from services.todo_api import todo
from services.todo_api.app_keys import store_key
from shared.contracts.streams import todo_stream_id
from tests.support.todo_http import TODOS, Client, create, error_of, iso


class TestConcurrentUpdates:
    async def test_concurrent_changes_answer_200_or_409_and_agree_with_the_events(
        self, client: Client
    ) -> None:
        await create(client)

        responses = await asyncio.gather(*(_change_one_field(client, n) for n in range(50)))

        statuses = [response.status for response in responses]
        assert set(statuses) <= {200, 409}, statuses
        for response in responses:
            if response.status == 409:
                await error_of(response, 409)
        store = client.app[store_key]
        history = [envelope.data for envelope in await store.load(todo_stream_id(1))]
        # every accepted change sets a value never sent before, so each one is exactly one event
        assert len(history) == 1 + statuses.count(200)
        folded = todo.fold(history)
        assert folded is not None
        assert (await (await client.get(f"{TODOS}/1")).json()) == folded.model_dump(mode="json")


async def _change_one_field(client: Client, n: int) -> ClientResponse:
    field = ("title", "description", "deadline_at")[n % 3]
    value = iso(datetime(2030, 1, 1) + timedelta(hours=n)) if field == "deadline_at" else f"v{n}"
    response = await client.put(f"{TODOS}/1", json={field: value})
    await response.read()
    return response
