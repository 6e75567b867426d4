"""What the authentication tests share: settings that require credentials, keys issued straight
into todo_api's store, the Authorization header, and a raw HTTP request for headers no client
library would send."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable

from rich.console import Console
from sqlalchemy import Connection, MetaData, Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.admin.cli import Context, execute
from services.todo_api.key_book import KeyBook
from services.todo_api.tables import SCHEMA
from shared.auth.api_keys import ApiKey
from shared.settings import Settings
from tests.support.replay_stack import Ran
from tests.support.stores import service_store


def requiring_credentials(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth_mode": "required"})


async def issue_key(
    settings: Settings, *, roles: Iterable[str] = ("member",), tenant: str = "acme"
) -> ApiKey:
    """A key issued into todo_api's store on `settings`' database, as `scripts.admin` does."""
    async with service_store(settings, SCHEMA) as store:
        return await KeyBook(store).issue(
            tenant=tenant, roles=roles, label="test key", issued_by="operator:test"
        )


def bearer(credential: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def every_stored_text(engine: AsyncEngine) -> list[str]:
    """Every value of every row of every table in the database, as text."""
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        found: list[str] = []
        for name in names:
            table = await conn.run_sync(_reflected, name)
            for row in (await conn.execute(select(table))).all():
                found.extend(str(value) for value in row)
    return found


def _reflected(sync: Connection, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=sync)


async def raw_status(host: str, port: int, path: str, authorization: bytes) -> int:
    """Send one GET with `authorization` as its Authorization header's bytes, exactly, on a
    socket of its own; the status code of the answer (0: the server closed without one)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Authorization: " + authorization + b"\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


async def run_admin(base: Settings, *argv: str, given: str = "") -> Ran:
    """Run `python -m scripts.admin ARGV` in this process, on `base`'s settings, with `given`
    as its standard input."""
    out, err = io.StringIO(), io.StringIO()
    context = Context(
        base=base,
        out=Console(file=out, width=200, highlight=False, soft_wrap=True),
        err=Console(file=err, width=200, highlight=False, soft_wrap=True),
        given=io.StringIO(given),
    )
    status = await execute(list(argv), context)
    return Ran(status, out.getvalue(), err.getvalue())
