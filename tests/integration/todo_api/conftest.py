"""The todo API on a real socket, once on each database, with the module's AWS topology."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from shared.settings import Settings
from tests.support.todo_http import Client


@pytest.fixture
async def client(service_settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(service_settings))) as client:
        yield client
