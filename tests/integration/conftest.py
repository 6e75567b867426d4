"""Stores and stacks every integration test module may ask for, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.replay_stack import (
    Stack,
    open_service_store,
    running_stack,
    stack_settings,
)
from tests.support.stores import make_store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings | None:
    """A port's contract runs three times: None for its in-memory twin (tests/support/fakes.py),
    then settings for each database its real implementation runs on."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/records.db")
    return Settings(
        database_url=POSTGRES_URL, database_schema=request.getfixturevalue("postgres_schema")
    )


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


@pytest.fixture
async def replay_stack(
    database: Settings, aws_settings: Settings, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The stack on each database, its files (and SQLite databases) in the test's tmp_path."""
    async with running_stack(stack_settings(database, aws_settings), tmp_path) as stack:
        yield stack


@pytest.fixture
async def postgres_todo_store(postgres_schema: str, tmp_path: Path) -> AsyncIterator[EventStore]:
    """todo_api's store alone, on PostgreSQL, where commits can land out of order."""
    settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema)
    store = await open_service_store(settings, "todo_api", tmp_path)
    yield store
    await store.engine.dispose()
