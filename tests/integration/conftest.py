"""Stores every integration test module may ask for, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.settings import Settings
from shared.store import EventStore
from tests.conftest import POSTGRES_URL
from tests.stores import make_store


@pytest.fixture
async def store(database: Settings) -> AsyncIterator[EventStore]:
    """A bare event store, once on each database."""
    store = await make_store(database)
    yield store
    await store.engine.dispose()


@pytest.fixture
async def postgres_store(postgres_schema: str) -> AsyncIterator[EventStore]:
    """A bare event store on PostgreSQL only, where commits can land out of order."""
    store = await make_store(Settings(database_url=POSTGRES_URL, database_schema=postgres_schema))
    yield store
    await store.engine.dispose()
