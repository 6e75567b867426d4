"""Which service an operator means: its tables, its queue, and where its database is."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import column, select, table
from sqlalchemy.exc import DBAPIError

from scripts.replay.errors import OperatorError
from services.calendar_worker import tool_face as calendar_worker
from services.job_tracker import tool_face as job_tracker
from services.todo_api import tool_face as todo_api
from shared.app import resources as runtime
from shared.app.resources import ServiceSchema
from shared.contracts.topology import ROUTED_TYPES, QueueSpec
from shared.eventstore.database import create_engine
from shared.eventstore.store import EventStore, PublishedForm
from shared.settings import EMBEDDED_DATABASE_URL, Settings


class ToolFace(Protocol):
    """What every service's `tool_face` module tells about it."""

    SCHEMA: ServiceSchema
    QUEUE: QueueSpec | None
    INBOX_CONSUMER: str | None
    PUBLISHED_FORM: PublishedForm | None


@dataclass(frozen=True)
class Service:
    schema: ServiceSchema
    queue: QueueSpec | None
    # the consumer name of the service's inbox, filled in when events are imported
    inbox_consumer: str | None = None
    # its stored events as they were published, when its log keeps less (None: as stored)
    published_form: PublishedForm | None = None

    @property
    def name(self) -> str:
        return self.schema.owner


FACES: tuple[ToolFace, ...] = (todo_api, calendar_worker, job_tracker)
SERVICES = {
    face.SCHEMA.owner: Service(face.SCHEMA, face.QUEUE, face.INBOX_CONSUMER, face.PUBLISHED_FORM)
    for face in FACES
}


def find_service(name: str) -> Service:
    if name not in SERVICES:
        raise OperatorError(f"unknown service {name!r}: choose one of {', '.join(SERVICES)}")
    return SERVICES[name]


def service_settings(base: Settings, service: Service, var_dir: Path) -> Settings:
    """The service's database: DATABASE_URL, or its embedded SQLite file when that is unset.

    The embedded mode gives each service `<VAR_DIR>/<service>.db` instead of the default URL,
    so the default URL here means the same layout.
    """
    if base.database_url != EMBEDDED_DATABASE_URL:
        return base
    return base.with_embedded_database(service.name, var_dir)


@contextlib.asynccontextmanager
async def open_store(
    settings: Settings, service: Service, *, create: bool = False
) -> AsyncIterator[EventStore]:
    """The service's event store; `create` makes missing tables (imports into an empty store)."""
    _check_sqlite_file(settings, create=create)
    if create:
        store = await runtime.open_store(settings, service.schema)
    else:
        # as the service opens it: only the events some queue receives are queued to publish
        store = EventStore(create_engine(settings), service.schema.store, routed=ROUTED_TYPES)
    try:
        if not create:
            await _check_version(store, service)
        yield store
    finally:
        await store.engine.dispose()


def _check_sqlite_file(settings: Settings, *, create: bool) -> None:
    if not settings.is_sqlite or create:
        return
    path = Path(settings.database_url.split("///", 1)[-1])
    if not path.is_file():
        raise OperatorError(f"no database at {path}: has the service run, or is the path wrong?")


async def _check_version(store: EventStore, service: Service) -> None:
    schema = service.schema
    versions = table(f"{schema.owner}_schema_version", column("version"))
    try:
        async with store.engine.connect() as conn:
            found = (await conn.execute(select(versions.c.version))).scalar_one_or_none()
    except DBAPIError as exc:
        if "does not exist" in str(exc.orig) or "no such table" in str(exc.orig):
            raise OperatorError(f"no {schema.owner} tables in this database") from None
        raise
    if found != schema.version:
        raise OperatorError(
            f"{schema.owner} tables are at schema version {found}, this code reads {schema.version}"
        )
