"""The secret calendar feed URL (AUTH_MODE=required, two tenants with an API key each; SQLite and
PostgreSQL): a member issues its tenant's, which serves that tenant's feed to anyone without
credentials; a rotation or a revoke leaves the old URL answering 404, as every secret that is
no tenant's current one does; the secret is stored, logged and traced nowhere; a rebuild and an
export and import keep the current one."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console
from sqlalchemy import insert, update
from yarl import URL

from scripts.replay.projections import PROJECTIONS
from scripts.replay.rebuild import rebuild
from services.todo_api import feed_secrets
from services.todo_api.app import create_app
from services.todo_api.app_keys import feed_secrets_key, store_key
from services.todo_api.tables import feed_secrets as feed_secrets_table
from shared.auth.api_keys import secret_hash
from shared.clock import utcnow
from shared.contracts.events import FeedSecretIssued
from shared.contracts.streams import feed_secret_stream_id
from shared.contracts.tenancy import Origin
from shared.observability.logs import log_handler
from shared.settings import Settings
from tests.support.auth import every_stored_text, requiring_credentials
from tests.support.replay_stack import run_replay
from tests.support.tenants import Member, member_of
from tests.support.todo_http import FEED, TODOS, Client, error_of, summaries

FEED_URL = f"{TODOS}/calendar-feed"
NOT_FOUND = "Feed not found"


@pytest.fixture
def auth_settings(service_settings: Settings) -> Settings:
    return requiring_credentials(service_settings)


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


async def json_of(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def issue(member: Member) -> str:
    """The member's tenant's new feed URL, as a path on the server."""
    issued = await json_of(await member.post(FEED_URL), 201)
    return URL(issued["feed_url"]).path


async def todo(member: Member, title: str) -> None:
    await json_of(await member.post(TODOS, json={"title": title}), 201)


async def served(client: Client, path: str) -> list[str]:
    """The summaries the URL serves to a caller without credentials."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/calendar"
    return summaries(await response.read())


def secret_of(path: str) -> str:
    return path.split("/")[-2]


class TestIssue:
    async def test_the_url_serves_the_tenant_s_feed_without_credentials(
        self, client: Client, acme: Member
    ) -> None:
        await todo(acme, "acme 1")
        response = await acme.post(FEED_URL)
        issued = await json_of(response, 201)
        path = URL(issued["feed_url"]).path
        with_credentials = await acme.get(FEED)

        by_url = await client.get(path)

        assert issued["feed_url"] == f"http://{client.host}:{client.port}{path}"
        assert response.headers["Cache-Control"] == "no-store"
        # 32 random bytes, URL-safe base64
        assert re.fullmatch(r"/api/v1/feeds/[A-Za-z0-9_-]{43}/calendar\.ics", path)
        assert by_url.status == 200
        assert summaries(await by_url.read()) == ["acme 1"]
        # one feed: the same tag, whichever way it is asked for
        assert by_url.headers["ETag"] == with_credentials.headers["ETag"]
        assert by_url.headers["Cache-Control"] == "no-cache"

    async def test_each_tenant_s_url_serves_only_its_own_todos(
        self, client: Client, acme: Member, globex: Member
    ) -> None:
        await todo(acme, "acme 1")
        await todo(globex, "globex 1")

        acme_url, globex_url = await issue(acme), await issue(globex)

        assert await served(client, acme_url) == ["acme 1"]
        assert await served(client, globex_url) == ["globex 1"]

    async def test_the_state_says_since_when_and_never_the_secret(
        self, acme: Member, globex: Member
    ) -> None:
        before = await json_of(await acme.get(FEED_URL), 200)
        issued = await json_of(await acme.post(FEED_URL), 201)

        state = await acme.get(FEED_URL)
        state_text = await state.text()
        others = await json_of(await globex.get(FEED_URL), 200)

        assert before == {"issued": False, "issued_at": None}
        assert await json_of(state, 200) == {"issued": True, "issued_at": issued["issued_at"]}
        assert secret_of(URL(issued["feed_url"]).path) not in state_text
        # another tenant's URL is no business of this one's
        assert others == {"issued": False, "issued_at": None}

    async def test_the_secret_url_answers_304_to_its_tag_and_head_without_a_body(
        self, client: Client, acme: Member
    ) -> None:
        await todo(acme, "acme 1")
        path = await issue(acme)
        first = await client.get(path)
        tag = first.headers["ETag"]

        unchanged = await client.get(path, headers={"If-None-Match": tag})
        head = await client.head(path)
        await todo(acme, "acme 2")
        changed = await client.get(path, headers={"If-None-Match": tag})

        assert (unchanged.status, unchanged.headers["ETag"], await unchanged.read()) == (
            304,
            tag,
            b"",
        )
        assert (head.status, head.headers["ETag"], await head.read()) == (200, tag, b"")
        assert changed.status == 200
        assert summaries(await changed.read()) == ["acme 1", "acme 2"]


class TestRotateAndRevoke:
    async def test_a_new_url_replaces_the_old_one(self, client: Client, acme: Member) -> None:
        await todo(acme, "acme 1")
        old = await issue(acme)

        new = await issue(acme)

        assert await error_of(await client.get(old), 404) == NOT_FOUND
        assert await served(client, new) == ["acme 1"]

    async def test_a_revoked_url_answers_404_and_revoking_again_changes_nothing(
        self, client: Client, acme: Member, globex: Member
    ) -> None:
        path = await issue(acme)
        globex_path = await issue(globex)

        revoked = await json_of(await acme.delete(FEED_URL), 200)
        again = await json_of(await acme.delete(FEED_URL), 200)

        assert revoked == again == {"issued": False, "issued_at": None}
        assert await error_of(await client.get(path), 404) == NOT_FOUND
        assert await json_of(await acme.get(FEED_URL), 200) == revoked
        # another tenant's URL is not this one's to revoke
        assert (await client.get(globex_path)).status == 200
        stream = await client.app[store_key].load(feed_secret_stream_id("acme"))
        assert [envelope.type for envelope in stream] == ["FeedSecretIssued", "FeedSecretRevoked"]
        assert {envelope.tenant for envelope in stream} == {"acme"}
        assert {envelope.actor for envelope in stream} == {acme.actor}

    @pytest.mark.parametrize(
        "made_up",
        [
            pytest.param(lambda: secrets.token_urlsafe(32), id="never issued"),
            pytest.param(lambda: "short", id="malformed"),
            pytest.param(lambda: "%00%2F..%C3%A9" * 3, id="escaped"),
            pytest.param(lambda: "a" * 4000, id="absurdly long"),
        ],
    )
    async def test_a_secret_that_is_no_tenant_s_answers_404_json(
        self, client: Client, acme: Member, made_up: Any
    ) -> None:
        await issue(acme)

        response = await client.get(f"/api/v1/feeds/{made_up()}/calendar.ics")

        assert await error_of(response, 404) == NOT_FOUND


class TestSecrecy:
    async def test_the_secret_is_stored_nowhere_only_its_hash(
        self, client: Client, acme: Member
    ) -> None:
        rotated = secret_of(await issue(acme))
        current = secret_of(await issue(acme))

        stored = await every_stored_text(client.app[store_key].engine)

        text = "\n".join(stored)
        # the scan reads the feed URLs' table and the log: the hashes are there
        assert sum(secret_hash(current) in value for value in stored) >= 2
        assert secret_hash(rotated) in text
        assert rotated not in text
        assert current not in text

    async def test_the_log_shows_the_feed_url_with_its_secret_masked(
        self, client: Client, acme: Member, logged: io.StringIO
    ) -> None:
        path = await issue(acme)

        await client.get(path)
        await client.get(f"/api/v1/feeds/{secrets.token_urlsafe(32)}/calendar.ics")

        lines = logged.getvalue()
        assert lines.count("/api/v1/feeds/<redacted>/calendar.ics") == 2, lines
        assert secret_of(path) not in lines

    async def test_the_request_span_names_the_route_and_masks_the_secret(
        self, client: Client, acme: Member, spans: InMemorySpanExporter
    ) -> None:
        path = await issue(acme)

        await client.get(path)

        [span] = [span for span in spans.get_finished_spans() if "/feeds/" in span.name]
        assert span.name == "GET /api/v1/feeds/{secret}/calendar.ics"
        assert span.attributes is not None
        assert span.attributes["url.path"] == "/api/v1/feeds/<redacted>/calendar.ics"
        assert secret_of(path) not in repr(dict(span.attributes))


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What the service's log handler writes while the test runs, access log lines included."""
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handler = log_handler(Settings(), stream)
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


class TestKept:
    async def test_a_rebuild_keeps_the_current_url_and_no_other(
        self, client: Client, acme: Member, globex: Member
    ) -> None:
        await todo(acme, "acme 1")
        rotated = await issue(acme)
        current = await issue(acme)
        revoked = await issue(globex)
        await json_of(await globex.delete(FEED_URL), 200)
        store = client.app[store_key]
        # a table gone wrong: acme's row holds its rotated secret, globex's revoked one is back
        async with store.transaction() as conn:
            await conn.execute(
                update(feed_secrets_table).values(secret_sha256=secret_hash(secret_of(rotated)))
            )
            await conn.execute(
                insert(feed_secrets_table).values(
                    tenant="globex",
                    secret_sha256=secret_hash(secret_of(revoked)),
                    issued_at=utcnow(),
                )
            )

        await rebuild(store, PROJECTIONS["todo_api"], Console(quiet=True))

        assert await served(client, current) == ["acme 1"]
        assert (await client.get(rotated)).status == 404
        assert (await client.get(revoked)).status == 404
        assert (await json_of(await globex.get(FEED_URL), 200))["issued"] is False

    async def test_the_current_url_works_after_an_import_into_another_database(
        self, client: Client, acme: Member, auth_settings: Settings, tmp_path: Path
    ) -> None:
        await todo(acme, "acme 1")
        current = await issue(acme)
        archive = tmp_path / "todo_api.jsonl"
        elsewhere = auth_settings.model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{tmp_path}/elsewhere.db",
                "database_schema": None,
            }
        )
        where = ["--service", "todo_api"]

        exported = await run_replay(
            auth_settings, tmp_path, "export", *where, "--output", str(archive)
        )
        imported = await run_replay(elsewhere, tmp_path, "import", *where, "--input", str(archive))
        async with TestClient(TestServer(create_app(elsewhere))) as other:
            titles = await served(other, current)

        assert (exported.status, imported.status) == (0, 0), (exported, imported)
        assert titles == ["acme 1"]


async def test_without_authentication_the_anonymous_tenant_has_a_feed_url_too(
    service_settings: Settings,
) -> None:
    async with TestClient(TestServer(create_app(service_settings))) as client:
        await json_of(await client.post(TODOS, json={"title": "mine"}), 201)
        issued = await json_of(await client.post(FEED_URL), 201)

        by_url = await served(client, URL(issued["feed_url"]).path)
        state = await json_of(await client.get(FEED_URL), 200)

    assert by_url == ["mine"]
    assert state["issued"] is True


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_two_issues_at_once_both_land_and_the_later_one_is_current(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = client.app[feed_secrets_key]
    store = client.app[store_key]
    read_version = feed_secrets._stream_version
    # both read the stream's version before either appends: the second append conflicts
    both_read, reads = asyncio.Barrier(2), itertools.count(1)

    async def read_together(conn: Any, store: Any, stream: str) -> int:
        version = await read_version(conn, store, stream)
        if next(reads) <= 2:
            await both_read.wait()
        return version

    monkeypatch.setattr(feed_secrets, "_stream_version", read_together)
    origin = Origin(tenant="acme", actor="api-key:acme0001")

    issued = await asyncio.gather(book.issue(origin), book.issue(origin))

    stream = await store.load(feed_secret_stream_id("acme"))
    assert [envelope.stream_version for envelope in stream] == [1, 2]
    found = [await book.tenant_of(one.secret) for one in issued]
    assert set(found) == {"acme", None}
    current = issued[found.index("acme")]
    last = stream[-1].data
    assert isinstance(last, FeedSecretIssued)
    assert last.secret_sha256 == secret_hash(current.secret)
