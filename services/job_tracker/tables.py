"""job_tracker's tables: the events it consumed and the jobs read model."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text

from shared.runtime import ServiceSchema
from shared.store import store_tables

OWNER = "job_tracker"
SCHEMA_VERSION = 1

metadata = MetaData()
store = store_tables(metadata, OWNER)

jobs = Table(
    f"{OWNER}_jobs",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("todo_count", Integer),
    Column("requested_at", DateTime),
    Column("result_key", String(300)),
    Column("size_bytes", BigInteger),
    Column("sha256", String(64)),
    Column("error", Text),
    Column("updated_at", DateTime, nullable=False),
)

SCHEMA = ServiceSchema(owner=OWNER, version=SCHEMA_VERSION, metadata=metadata, store=store)
