"""job_tracker's tables: the events it consumed, the jobs read model, the API keys it is sent."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.app.resources import ServiceSchema
from shared.auth.key_table import api_key_table
from shared.eventstore.store import store_tables

OWNER = "job_tracker"
# bump on any change to these tables; ensure_schema refuses a database of another version, and
# upgrade.py brings an older one up to this one
SCHEMA_VERSION = 4

metadata = MetaData()
store = store_tables(metadata, OWNER)

jobs = Table(
    f"{OWNER}_jobs",
    metadata,
    Column("task_id", String(36), primary_key=True),
    # whose job it is: its request's tenant; jobs of before tenancy are the anonymous tenant's
    Column("tenant", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("todo_count", Integer),
    Column("requested_at", DateTime),
    Column("result_key", String(300)),
    Column("size_bytes", BigInteger),
    Column("sha256", String(64)),
    Column("error", Text),
    # when the outcome was recorded (its event's time): a calendar's age counts from it
    Column("finished_at", DateTime),
    # how far a large calendar's render has got, while it renders
    Column("progress_done", Integer),
    Column("progress_total", Integer),
    Column("updated_at", DateTime, nullable=False),
)
# a tenant's history, newest first, of all its jobs or those in one state: (requested_at,
# task_id) is its unique order
Index(f"ix_{OWNER}_jobs_tenant_requested", jobs.c.tenant, jobs.c.requested_at, jobs.c.task_id)
Index(
    f"ix_{OWNER}_jobs_tenant_state_requested",
    jobs.c.tenant,
    jobs.c.status,
    jobs.c.requested_at,
    jobs.c.task_id,
)
# the operations page (overview.py): the latest jobs by their last change, and the failures and
# finished jobs by when they finished. A database made before them gets them at start
# (shared/eventstore/database.py::ensure_schema creates an index that is missing)
Index(f"ix_{OWNER}_jobs_updated", jobs.c.updated_at)
Index(f"ix_{OWNER}_jobs_state_finished", jobs.c.status, jobs.c.finished_at)

# calendar files found missing from the blob store (deleted early, or by hand): the status says
# expired from then on. Not part of the projection: the event log does not know it
lost_results = Table(
    f"{OWNER}_lost_results",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("noticed_at", DateTime, nullable=False),
)

# the API keys todo_api issued, folded from their events as they arrive: the authentication
# middleware finds a request's key here
api_keys = api_key_table(metadata, OWNER)

SCHEMA = ServiceSchema(owner=OWNER, version=SCHEMA_VERSION, metadata=metadata, store=store)
