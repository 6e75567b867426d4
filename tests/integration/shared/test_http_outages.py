"""Outages answer 503 JSON through the shared middleware: here, a pool with no connection free.

The process-level outage tests (a cut or silent database) are in tests/e2e/test_faults.py; a full
pool cannot be reached there in bounded time (the services wait 30 s for a pooled connection).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.eventstore import sqlite_on_loop
from shared.settings import Settings
from shared.web.http import json_errors, json_response

Client = TestClient[web.Request, web.Application]
POOL_TIMEOUT_S = 0.1
engine_key = web.AppKey("engine_key", AsyncEngine)


async def read_one(request: web.Request) -> web.Response:
    async with request.app[engine_key].connect() as conn:
        return json_response((await conn.execute(text("SELECT 1"))).scalar_one())


@pytest.fixture
async def one_connection_engine(database: Settings) -> AsyncIterator[AsyncEngine]:
    pool: dict[str, Any] = {"pool_size": 1, "max_overflow": 0, "pool_timeout": POOL_TIMEOUT_S}
    if database.is_sqlite:
        # the services' SQLite engine (statements on the loop), with a pool of one
        path = make_url(database.database_url).database or ":memory:"
        opener = functools.partial(
            sqlite_on_loop.connect, path, synchronous=database.sqlite_synchronous
        )
        engine = create_async_engine(
            f"{sqlite_on_loop.URL_SCHEME}:///{path}", creator=opener, **pool
        )
    else:
        engine = create_async_engine(database.database_url, **pool)
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(one_connection_engine: AsyncEngine) -> AsyncIterator[Client]:
    app = web.Application(middlewares=[json_errors])
    app[engine_key] = one_connection_engine
    app.router.add_get("/one", read_one)
    async with TestClient(TestServer(app)) as client:
        yield client


class TestAFullConnectionPool:
    async def test_answers_503_json_while_every_connection_is_taken(
        self, client: Client, one_connection_engine: AsyncEngine
    ) -> None:
        async with one_connection_engine.connect() as held:
            await held.execute(text("SELECT 1"))
            response = await client.get("/one")

            assert response.status == 503
            assert response.content_type == "application/json"
            assert await response.json() == {
                "error": "Service temporarily unavailable, try again shortly"
            }

    async def test_answers_again_once_a_connection_is_back(
        self, client: Client, one_connection_engine: AsyncEngine
    ) -> None:
        async with one_connection_engine.connect() as held:
            await held.execute(text("SELECT 1"))
            assert (await client.get("/one")).status == 503

        response = await client.get("/one")

        assert (response.status, await response.json()) == (200, 1)
