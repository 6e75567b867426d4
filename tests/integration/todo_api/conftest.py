"""The todo API on a real socket, once on each database, with the module's AWS topology."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from shared.messaging.provisioning import bootstrap
from shared.settings import Settings
from tests.support.todo_http import Client


@pytest.fixture
async def client(service_settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(service_settings))) as client:
        yield client


@pytest.fixture(scope="module")
def quiet_topology(moto_url: str) -> Settings:
    """A second topology made once per module, to which no todo_api here publishes: a job tracker
    on it folds only what its test records, never a job another test's relay sent."""
    aws = Settings(aws_endpoint_url=moto_url, resource_prefix=f"q{uuid.uuid4().hex[:8]}-")
    asyncio.run(bootstrap(aws))
    return aws
