"""Two tenants side by side in todo_api (AUTH_MODE=required, one API key each; SQLite and
PostgreSQL): each lists, reads, changes and pages its own todos, calendar jobs, idempotency keys
and feed only; another tenant's todo or job answers exactly as a missing one does; every event
names the tenant and the member who acted; a rebuild gives back the live rows, tenants included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console
from sqlalchemy import select
from yarl import URL

from scripts.replay.projections import PROJECTIONS
from scripts.replay.rebuild import rebuild
from services.todo_api.app import create_app
from services.todo_api.app_keys import settings_key, store_key
from services.todo_api.snapshots import published_form
from services.todo_api.tables import todos
from shared.contracts.envelope import Envelope
from shared.contracts.events import CalendarRequested
from shared.contracts.streams import calendar_stream_id, todo_stream_id
from shared.contracts.task_ids import issue_task_id
from shared.eventstore.store import EventStore
from shared.settings import Settings
from tests.support.auth import requiring_credentials
from tests.support.tenants import Member, member_of
from tests.support.todo_http import FEED, NOT_FOUND, TODOS, Client, summaries

JOBS = f"{TODOS}/ical"
# no todo has this id
MISSING_ID = 999_999
QUIET = Console(quiet=True)


@pytest.fixture
def auth_settings(service_settings: Settings) -> Settings:
    # no job tracker runs here to count the jobs in flight: tenancy alone, without the cap
    return requiring_credentials(service_settings).model_copy(
        update={"calendar_jobs_in_flight_per_tenant": 0}
    )


@pytest.fixture
async def client(auth_settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(auth_settings))) as client:
        yield client


@pytest.fixture
async def acme(client: Client, auth_settings: Settings) -> Member:
    return await member_of("acme", client, auth_settings)


@pytest.fixture
async def globex(client: Client, auth_settings: Settings) -> Member:
    return await member_of("globex", client, auth_settings)


@pytest.fixture
def store(client: Client) -> EventStore:
    return client.app[store_key]


async def body_of(response: ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def create(member: Member, title: str, **headers: str) -> dict[str, Any]:
    created: dict[str, Any] = await body_of(
        await member.post(TODOS, json={"title": title}, headers=headers), 201
    )
    return created


async def titles(member: Member, query: str = "") -> list[str]:
    return [todo["title"] for todo in await body_of(await member.get(f"{TODOS}{query}"), 200)]


async def answer(member: Member, method: str, todo_id: int) -> tuple[int, Any]:
    body = {"title": "Taken over"} if method == "PUT" else None
    response = await member.request(method, f"{TODOS}/{todo_id}", json=body)
    return response.status, await response.json()


async def feed(member: Member) -> tuple[str, list[str]]:
    """The member's feed: its tag and its events' titles."""
    response = await member.get(FEED)
    assert response.status == 200, await response.text()
    return response.headers["ETag"], summaries(await response.read())


def next_page(response: ClientResponse) -> str:
    return URL(str(response.links["next"]["url"])).path_qs


async def events_of(store: EventStore, stream_id: str) -> list[Envelope]:
    return await store.load(stream_id)


class TestTodos:
    async def test_each_tenant_lists_and_reads_its_own_todos_only(
        self, acme: Member, globex: Member
    ) -> None:
        first = await create(acme, "acme 1")
        other = await create(globex, "globex 1")
        second = await create(acme, "acme 2")

        assert await titles(acme) == ["acme 1", "acme 2"]
        assert await titles(globex) == ["globex 1"]
        assert await titles(acme, f"?after_id={first['id']}") == ["acme 2"]
        assert await body_of(await acme.get(f"{TODOS}/{second['id']}"), 200) == second
        # one sequence of ids across tenants: an id names one todo
        assert [first["id"], other["id"], second["id"]] == [1, 2, 3]

    async def test_pages_and_their_links_hold_the_tenant_s_todos_only(
        self, acme: Member, globex: Member
    ) -> None:
        for n in range(3):
            await create(acme, f"acme {n}")
            await create(globex, f"globex {n}")

        first = await acme.get(f"{TODOS}?limit=2")
        first_titles = [todo["title"] for todo in await first.json()]
        second = await acme.get(next_page(first))

        assert first_titles == ["acme 0", "acme 1"]
        assert [todo["title"] for todo in await second.json()] == ["acme 2"]
        assert "next" not in second.links

    # a missing todo's DELETE answers 200 {}: the original contract
    @pytest.mark.parametrize(
        ("method", "missing"),
        [("GET", (404, NOT_FOUND)), ("PUT", (404, NOT_FOUND)), ("DELETE", (200, {}))],
    )
    async def test_another_tenant_s_todo_answers_as_a_missing_one(
        self, acme: Member, globex: Member, method: str, missing: tuple[int, Any]
    ) -> None:
        acme_s = await create(acme, "acme's")

        as_another_s = await answer(globex, method, acme_s["id"])
        as_missing = await answer(globex, method, MISSING_ID)

        assert as_another_s == as_missing == missing
        assert await body_of(await acme.get(f"{TODOS}/{acme_s['id']}"), 200) == acme_s

    async def test_one_idempotency_key_in_two_tenants_makes_two_todos(
        self, acme: Member, globex: Member
    ) -> None:
        key = {"Idempotency-Key": "create-water-1"}
        acme_s = await create(acme, "Water", **key)
        globex_s = await create(globex, "Water", **key)
        acme_s_again = await create(acme, "Water", **key)

        assert acme_s["id"] != globex_s["id"]
        assert acme_s_again == acme_s
        assert (await titles(acme), await titles(globex)) == (["Water"], ["Water"])

    async def test_every_event_names_the_member_who_acted(
        self, acme: Member, globex: Member, store: EventStore
    ) -> None:
        acme_s = await create(acme, "acme's")
        globex_s = await create(globex, "globex's")
        await body_of(await acme.put(f"{TODOS}/{acme_s['id']}", json={"completed": True}), 200)
        await body_of(await acme.delete(f"{TODOS}/{acme_s['id']}"), 200)

        acme_events = await events_of(store, todo_stream_id(acme_s["id"]))
        globex_events = await events_of(store, todo_stream_id(globex_s["id"]))

        types = ["TodoCreated", "TodoUpdated", "TodoDeleted"]
        assert [event.type for event in acme_events] == types
        assert {(e.tenant, e.actor) for e in acme_events} == {("acme", acme.actor)}
        assert {(e.tenant, e.actor) for e in globex_events} == {("globex", globex.actor)}


class TestCalendarJobs:
    async def test_a_request_snapshots_the_requester_s_todos_and_names_the_requester(
        self, acme: Member, globex: Member, store: EventStore
    ) -> None:
        await create(acme, "acme 1")
        await create(globex, "globex 1")
        await create(acme, "acme 2")

        accepted = await body_of(await acme.post(JOBS), 202)
        (requested,) = await events_of(store, calendar_stream_id(UUID(accepted["task_id"])))

        assert isinstance(requested.data, CalendarRequested)
        # the log names the requester's todos by version; made whole, they are theirs only
        assert (requested.data.todos, requested.data.todo_refs) == (None, "1:1,3:1")
        (whole,) = await published_form(store, [requested])
        assert isinstance(whole.data, CalendarRequested)
        assert [todo.title for todo in whole.data.todos or ()] == ["acme 1", "acme 2"]
        assert requested.data.todo_count == 2
        assert (requested.tenant, requested.actor) == ("acme", acme.actor)

    async def test_another_tenant_s_job_cannot_be_cancelled_and_answers_as_an_unknown_one(
        self, client: Client, acme: Member, globex: Member, store: EventStore
    ) -> None:
        task_id = UUID((await body_of(await acme.post(JOBS), 202))["task_id"])
        never_requested = issue_task_id(client.app[settings_key].task_secret, globex.tenant)

        as_another_s = await globex.delete(f"{JOBS}/{task_id}")
        as_unknown = await globex.delete(f"{JOBS}/{never_requested}")

        assert await body_of(as_another_s, 404) == await body_of(as_unknown, 404)
        stream = await events_of(store, calendar_stream_id(task_id))
        assert [event.type for event in stream] == ["CalendarRequested"]

    async def test_one_idempotency_key_in_two_tenants_starts_two_jobs(
        self, acme: Member, globex: Member
    ) -> None:
        key = {"Idempotency-Key": "calendar-1"}

        acme_s = await body_of(await acme.post(JOBS, headers=key), 202)
        globex_s = await body_of(await globex.post(JOBS, headers=key), 202)
        acme_s_again = await body_of(await acme.post(JOBS, headers=key), 202)

        assert acme_s["task_id"] != globex_s["task_id"]
        assert acme_s_again["task_id"] == acme_s["task_id"]


class TestFeed:
    async def test_each_tenant_s_feed_holds_its_todos_under_a_tag_of_its_own(
        self, acme: Member, globex: Member
    ) -> None:
        await create(acme, "acme 1")
        await create(globex, "globex 1")
        acme_tag, acme_titles = await feed(acme)
        globex_tag, globex_titles = await feed(globex)

        await create(acme, "acme 2")
        acme_polled = await acme.get(FEED, headers={"If-None-Match": acme_tag})
        acme_polled_titles = summaries(await acme_polled.read())
        globex_polled = await globex.get(FEED, headers={"If-None-Match": globex_tag})

        assert (acme_titles, globex_titles) == (["acme 1"], ["globex 1"])
        assert acme_tag != globex_tag
        assert (acme_polled.status, acme_polled_titles) == (200, ["acme 1", "acme 2"])
        # a change to another tenant's list is no change to this one's
        assert globex_polled.status == 304

    async def test_a_tenant_that_never_wrote_has_an_empty_feed_with_a_steady_tag(
        self, acme: Member, globex: Member
    ) -> None:
        await create(acme, "acme 1")

        tag, titles_now = await feed(globex)
        again = await globex.get(FEED, headers={"If-None-Match": tag})

        assert titles_now == []
        assert again.status == 304


class TestRebuild:
    async def test_a_rebuild_gives_the_live_rows_tenants_included_and_new_tags(
        self, acme: Member, globex: Member, store: EventStore
    ) -> None:
        kept = await create(acme, "acme kept")
        gone = await create(globex, "globex gone")
        await create(globex, "globex kept")
        await body_of(await acme.put(f"{TODOS}/{kept['id']}", json={"completed": True}), 200)
        await body_of(await globex.delete(f"{TODOS}/{gone['id']}"), 200)
        tags = [(await feed(member))[0] for member in (acme, globex)]
        live = await rows(store)

        difference = await rebuild(store, PROJECTIONS["todo_api"], QUIET)
        polled = [
            (await member.get(FEED, headers={"If-None-Match": tag})).status
            for member, tag in zip((acme, globex), tags, strict=True)
        ]

        assert not difference.any
        assert await rows(store) == live
        assert [row["tenant"] for row in live] == ["acme", "globex"]
        assert (await titles(acme), await titles(globex)) == (["acme kept"], ["globex kept"])
        # the lists were written anew: every tenant's calendar app fetches its feed again
        assert polled == [200, 200]


async def rows(store: EventStore) -> list[dict[str, Any]]:
    async with store.reading() as conn:
        found = (await conn.execute(select(todos).order_by(todos.c.id))).mappings().all()
    return [dict(row) for row in found]
