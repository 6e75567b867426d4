"""The calendar feed's tag changes with every committed change to the todos, and no other
database can hand out the same tag: a poll never answers 304 to a list it has not seen."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console
from sqlalchemy import update

from scripts.replay.archive import export_events, import_events
from scripts.replay.projections import PROJECTIONS
from scripts.replay.rebuild import rebuild
from scripts.replay.targets import SERVICES, open_store
from services.todo_api.app import create_app
from services.todo_api.app_keys import store_key
from services.todo_api.commands import UpdateTodo
from services.todo_api.handlers import update_todo
from services.todo_api.records import SqlTodoBook, TodoRecords
from services.todo_api.tables import todos
from shared.eventstore.queries import EventFilter
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL, fresh_schema
from tests.support.todo_http import FEED, TODOS, Client, create, summaries

QUIET = Console(quiet=True)


class HeldOpen(SqlTodoBook):
    """The todo book, its transactions held open after their work until `release` is set."""

    def __init__(self, store: EventStore) -> None:
        super().__init__(store)
        self.worked = asyncio.Event()
        self.release = asyncio.Event()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[TodoRecords]:
        async with super().transaction() as records:
            yield records
            self.worked.set()
            await self.release.wait()


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def feed_tag(client: Client) -> str:
    response = await client.get(FEED)
    assert response.status == 200
    return response.headers["ETag"]


async def test_an_update_that_commits_after_a_later_one_changes_the_tag(
    postgres_schema: str, module_topology: Settings
) -> None:
    # PostgreSQL: the held update draws its log position first and commits last
    aws = module_topology.model_dump(include={"aws_endpoint_url", "resource_prefix"})
    settings = Settings(database_url=POSTGRES_URL, database_schema=postgres_schema, **aws)
    async with serving(settings) as client:
        first, second = await create(client, title="one"), await create(client, title="two")
        held = HeldOpen(client.app[store_key])
        early = asyncio.create_task(
            update_todo(UpdateTodo(first["id"], {"title": "one, late"}), held)
        )
        await held.worked.wait()
        put = await client.put(f"{TODOS}/{second['id']}", json={"title": "two, early"})
        assert put.status == 200
        seen = await client.get(FEED)
        tag, seen_titles = seen.headers["ETag"], summaries(await seen.read())
        held.release.set()
        await early

        again = await client.get(FEED, headers={"If-None-Match": tag})
        again_body = await again.read()

    assert seen_titles == ["one", "two, early"]
    assert again.status == 200, "a 304 would hide the update that committed last"
    assert again.headers["ETag"] != tag
    assert summaries(again_body) == ["one, late", "two, early"]


async def test_a_304_carries_the_tag_and_the_caching_rule(client: Client) -> None:
    await create(client, title="Water the plants")
    tag = await feed_tag(client)

    unchanged = await client.get(FEED, headers={"If-None-Match": tag})

    assert unchanged.status == 304
    assert unchanged.headers["ETag"] == tag
    assert unchanged.headers["Cache-Control"] == "no-cache"


@contextlib.asynccontextmanager
async def new_database(like: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    """An empty database of the same kind as `like`'s."""
    if like.is_sqlite:
        yield like.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/new.db"})
        return
    async with fresh_schema() as schema:
        yield like.model_copy(update={"database_schema": schema})


async def exported(client: Client) -> list[str]:
    """The service's log as an export (an archive) holds it."""
    out = io.StringIO()
    await export_events(client.app[store_key], EventFilter(), out)
    return out.getvalue().splitlines()


async def restore(archive: list[str], target: Settings) -> None:
    """Import the archive into `target` and rebuild its todo list there, as an operator moves or
    restores a service (README, "Replaying events")."""
    service = SERVICES["todo_api"]
    async with open_store(target, service, create=True) as store:
        await import_events(store, service, archive, QUIET, dry_run=False)
        await rebuild(store, PROJECTIONS["todo_api"], QUIET)


async def test_an_import_into_a_new_database_never_matches_a_tag_of_the_old_one(
    client: Client, service_settings: Settings, tmp_path: Path
) -> None:
    await create(client, title="Water the plants")
    archive = await exported(client)
    await create(client, title="Buy milk")
    old_tag = await feed_tag(client)

    async with new_database(service_settings, tmp_path) as target:
        await restore(archive, target)
        async with serving(target) as restored:
            # the restored log is one todo shorter: its next change takes the old last position
            await create(restored, title="Bake bread")
            polled = await restored.get(FEED, headers={"If-None-Match": old_tag})
            polled_body = await polled.read()

    assert polled.status == 200, "the old tag names another list than this database's"
    assert polled.headers["ETag"] != old_tag
    assert summaries(polled_body) == ["Water the plants", "Bake bread"]


async def test_a_rebuild_that_mends_the_list_gives_a_new_tag(client: Client) -> None:
    await create(client, title="Water the plants")
    store = client.app[store_key]
    async with store.transaction() as conn:
        await conn.execute(update(todos).values(title="damaged"))
    damaged_tag = await feed_tag(client)

    await rebuild(store, PROJECTIONS["todo_api"], QUIET)
    mended = await client.get(FEED, headers={"If-None-Match": damaged_tag})

    assert mended.status == 200
    assert summaries(await mended.read()) == ["Water the plants"]


async def test_a_restart_keeps_the_tag_of_an_unchanged_list(service_settings: Settings) -> None:
    # the database's id is drawn once, with its tables: a deploy sends no calendar app a new copy
    async with serving(service_settings) as before:
        await create(before, title="Water the plants")
        tag = await feed_tag(before)
    async with serving(service_settings) as after:
        polled = await after.get(FEED, headers={"If-None-Match": tag})

    assert polled.status == 304
