"""A store over tables another process owns (`open_reader_store`, the tracker reader's): it
waits for the owner to make them, creates none itself, and refuses another schema version."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import inspect

from services.job_tracker.tables import SCHEMA as TRACKER_SCHEMA
from shared.app.resources import open_reader_store, open_store
from shared.eventstore.database import SchemaMismatchError, create_engine
from shared.settings import Settings

# long enough for several attempts (the first pause is at most 0.5 s)
WAITED_S = 1.5
START_S = 10.0


async def tables_in(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_waits_for_the_owners_tables_and_creates_none(database: Settings) -> None:
    reading = asyncio.create_task(open_reader_store(database, TRACKER_SCHEMA))
    try:
        # only the owner's tables can end the wait: an error would end the task too
        done, _ = await asyncio.wait({reading}, timeout=WAITED_S)
        assert not done
        assert await tables_in(database) == set()

        owner = await open_store(database, TRACKER_SCHEMA)
        reader = await asyncio.wait_for(reading, START_S)
    finally:
        reading.cancel()
    await reader.engine.dispose()
    await owner.engine.dispose()

    assert "job_tracker_jobs" in await tables_in(database)


async def test_refuses_tables_of_another_version_at_once(database: Settings) -> None:
    owner = await open_store(database, TRACKER_SCHEMA)
    await owner.engine.dispose()
    newer = dataclasses.replace(TRACKER_SCHEMA, version=TRACKER_SCHEMA.version + 1)

    with pytest.raises(SchemaMismatchError, match="reads version"):
        await asyncio.wait_for(open_reader_store(database, newer), START_S)
