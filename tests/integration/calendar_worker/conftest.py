"""The calendar worker's own store (all its tables) on each database, for its integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.calendar_worker.tables import SCHEMA
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.stores import service_store


@pytest.fixture
async def worker_store(database: Settings) -> AsyncIterator[EventStore]:
    async with service_store(database, SCHEMA) as store:
        yield store
