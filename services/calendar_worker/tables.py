"""calendar_worker's tables: the render streams it writes and their outbox."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.app.resources import ServiceSchema
from shared.eventstore.leases import lease_table
from shared.eventstore.store import store_tables

OWNER = "calendar_worker"
SCHEMA_VERSION = 2

metadata = MetaData()
store = store_tables(metadata, OWNER)
# which delivery renders a job now: a duplicate waits for it instead of starting over
render_leases = lease_table(metadata, f"{OWNER}_render_leases")

SCHEMA = ServiceSchema(owner=OWNER, version=SCHEMA_VERSION, metadata=metadata, store=store)
