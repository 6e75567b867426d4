"""todo_api's tables: its event store (with an index of its Idempotency-Key uses), the todo
list projection, the API keys projection, the calendar feed URLs' projection and the rate limits'
buckets."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from services.todo_api.key_use_expiry import is_key_use
from shared.app.resources import ServiceSchema
from shared.auth.key_table import api_key_table
from shared.auth.rate_buckets import rate_bucket_table
from shared.eventstore.store import store_tables

OWNER = "todo_api"
# bump on any change to these tables; ensure_schema refuses a database of another version, and
# upgrade.py brings an older one up to this one
SCHEMA_VERSION = 8

metadata = MetaData()
store = store_tables(metadata, OWNER)
# the Idempotency-Key uses by their time, and no other event: the expiry finds the old ones
# without reading the rest of the log (key_use_expiry.py). An index changes no row, so no schema
# version: a database made before it gains it at start (database.py _create_missing_indexes)
key_uses_by_time = Index(
    f"{OWNER}_key_uses_by_time",
    store.events.c.occurred_at,
    postgresql_where=is_key_use(store.events),
    sqlite_where=is_key_use(store.events),
)

# every tenant's todos; ids are one sequence across tenants (todo_ids), so an id names one todo
todos = Table(
    f"{OWNER}_todos",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    # whose todo it is: the tenant of the events that made it
    Column("tenant", String(255), nullable=False),
    Column("title", String(80), nullable=False),
    Column("description", String(120)),
    Column("completed", Boolean, nullable=False),
    Column("deadline_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # the version of the todo's stream the row shows: a calendar request names its snapshot by
    # these (shared/contracts/todo_refs.py) instead of copying the todos into the log again
    Column("stream_version", Integer, nullable=False),
    # a tenant's list, and its pages, in id order
    Index(f"{OWNER}_todos_tenant_id", "tenant", "id"),
)

# the last todo id handed out; ids are never reused, even after a delete
todo_ids = Table(
    f"{OWNER}_todo_ids",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)

# each tenant's todo list's version: moved on in the transaction of every change to that list
# (records.py) and by a rebuild, so it changes with each commit; the tenant's calendar feed tag.
# `list_id` is drawn when the row is made, with this database's tables: no other tenant's list,
# nor another database (an import), shares it
list_versions = Table(
    f"{OWNER}_list_versions",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("list_id", String(32), nullable=False),
    Column("version", BigInteger, nullable=False),
    # when the list last changed: the feed's DTSTAMPs
    Column("changed_at", DateTime, nullable=False),
)

# the API keys (key_projection.py), folded from their ApiKeyIssued/ApiKeyRevoked events
api_keys = api_key_table(metadata, OWNER)

# each tenant's current calendar feed URL (feed_secret_projection.py), folded from its
# FeedSecretIssued/FeedSecretRevoked events: the hash of its secret only, by which the public
# feed route finds the tenant
feed_secrets = Table(
    f"{OWNER}_feed_secrets",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("issued_at", DateTime, nullable=False),
)

# each principal's token buckets (rate_limits.py): state, in no event, and no projection of any
rate_buckets = rate_bucket_table(metadata, OWNER)

SCHEMA = ServiceSchema(owner=OWNER, version=SCHEMA_VERSION, metadata=metadata, store=store)
