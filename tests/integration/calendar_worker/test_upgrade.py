"""A calendar_worker database of schema version 1 is brought up at start: its inbox rows are
dated by the upgrade, so they expire one window after it."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import select, text

from services.calendar_worker.tables import OWNER, SCHEMA, SCHEMA_VERSION, store
from services.calendar_worker.upgrade import upgrade
from shared.app.resources import open_store
from shared.clock import utcnow
from shared.eventstore.database import create_engine
from shared.eventstore.schema_upgrade import set_version, stored_version
from shared.settings import Settings

INBOX = store.inbox.name


async def make_version_1(settings: Settings, event_id: str) -> None:
    """This code's tables as version 1 had them: an inbox without `handled_at`, one row in it."""
    opened = await open_store(settings, SCHEMA)
    async with opened.engine.begin() as conn:
        await conn.execute(text(f"DROP INDEX ix_{INBOX}_handled_at"))
        await conn.execute(text(f"ALTER TABLE {INBOX} DROP COLUMN handled_at"))
        await conn.execute(
            text(f"INSERT INTO {INBOX} (consumer, event_id) VALUES ('worker', :id)"),
            {"id": event_id},
        )
        await set_version(conn, OWNER, 1)
    await opened.engine.dispose()


async def test_a_version_1_inbox_gets_handled_at_as_of_the_upgrade(database: Settings) -> None:
    event_id = str(uuid4())
    await make_version_1(database, event_id)
    engine = create_engine(database)
    before = utcnow()
    try:
        assert await upgrade(engine)
        assert not await upgrade(engine)
        async with engine.connect() as conn:
            version = await stored_version(conn, OWNER)
            stamp = (await conn.execute(select(store.inbox.c.handled_at))).scalar_one()
    finally:
        await engine.dispose()

    assert version == SCHEMA_VERSION
    assert before <= stamp <= utcnow()
    # the database now opens as this code's
    reopened = await open_store(database, SCHEMA)
    await reopened.engine.dispose()
