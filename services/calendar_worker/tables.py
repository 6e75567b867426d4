"""calendar_worker's tables: the render streams it writes and their outbox."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.runtime import ServiceSchema
from shared.store import store_tables

OWNER = "calendar_worker"
SCHEMA_VERSION = 1

metadata = MetaData()
store = store_tables(metadata, OWNER)

SCHEMA = ServiceSchema(owner=OWNER, version=SCHEMA_VERSION, metadata=metadata, store=store)
