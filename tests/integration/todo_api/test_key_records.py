"""API keys in todo_api's database (SQLite, PostgreSQL): only their hashes are stored, a revoke
is seen at once by every instance, and the keys survive a schema upgrade, a rebuild and an
export and import."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console
from sqlalchemy import MetaData, select, update

from scripts.replay.projections import PROJECTIONS
from scripts.replay.rebuild import rebuild
from services.todo_api import key_book
from services.todo_api.app import create_app
from services.todo_api.app_keys import key_book_key, store_key
from services.todo_api.key_book import Revocation
from services.todo_api.tables import OWNER, SCHEMA, api_keys, list_versions
from services.todo_api.upgrade import single_list_version
from shared.auth.api_keys import ApiKey, new_key, secret_hash
from shared.eventstore.database import create_engine, ensure_schema
from shared.settings import Settings
from tests.support.auth import bearer, every_stored_text, issue_key, requiring_credentials
from tests.support.replay_stack import run_replay
from tests.support.todo_http import TODOS, Client


@pytest.fixture
def auth_settings(service_settings: Settings) -> Settings:
    return requiring_credentials(service_settings)


def serving(settings: Settings) -> TestClient[Any, Any]:
    return TestClient(TestServer(create_app(settings)))


async def key_rows(client: Client) -> list[dict[str, Any]]:
    query = select(api_keys).order_by(api_keys.c.key_id)
    async with client.app[store_key].engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]


async def test_the_plaintext_key_is_stored_nowhere(auth_settings: Settings) -> None:
    async with serving(auth_settings) as client:
        kept = await issue_key(auth_settings)
        revoked = await issue_key(auth_settings, roles=["member", "operator"])
        assert (await client.get(TODOS, headers=bearer(kept))).status == 200
        await client.app[key_book_key].revoke(revoked.key_id, revoked_by="operator:test")

        stored = await every_stored_text(client.app[store_key].engine)

    text = "\n".join(stored)
    # the scan reads the keys table and the log: the hashes are there
    assert secret_hash(kept.secret) in text
    assert sum(secret_hash(revoked.secret) in value for value in stored) >= 2
    for key in (kept, revoked):
        assert key.secret not in text
        assert str(key) not in text


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_key_revoked_through_one_instance_is_refused_by_another_at_once(
    auth_settings: Settings,
) -> None:
    async with serving(auth_settings) as one, serving(auth_settings) as two:
        key = await issue_key(auth_settings)
        assert (await two.get(TODOS, headers=bearer(key))).status == 200

        outcome = await one.app[key_book_key].revoke(key.key_id, revoked_by="operator:test")
        after = await two.get(TODOS, headers=bearer(key))

        assert outcome is Revocation.REVOKED
        assert after.status == 401
        assert after.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert (await one.get(TODOS, headers=bearer(key))).status == 401


async def test_revoking_twice_or_an_unknown_key_says_so(auth_settings: Settings) -> None:
    async with serving(auth_settings) as client:
        key = await issue_key(auth_settings)
        book = client.app[key_book_key]

        outcomes = [
            await book.revoke(key.key_id, revoked_by="a"),
            await book.revoke(key.key_id, revoked_by="b"),
            await book.revoke("zzzzzzzz", revoked_by="c"),
            await book.revoke("not an id at all", revoked_by="d"),
        ]

    assert outcomes == [
        Revocation.REVOKED,
        Revocation.ALREADY_REVOKED,
        Revocation.UNKNOWN,
        Revocation.UNKNOWN,
    ]


async def test_no_key_is_issued_for_the_anonymous_tenant(auth_settings: Settings) -> None:
    async with serving(auth_settings) as client:
        with pytest.raises(ValueError, match="reserved for AUTH_MODE=none"):
            await issue_key(auth_settings, tenant="anonymous")
        rows = await key_rows(client)
        stored = await every_stored_text(client.app[store_key].engine)

    assert rows == []
    assert "ApiKeyIssued" not in "\n".join(stored)


async def test_a_new_key_whose_id_was_taken_is_drawn_again(
    auth_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter([ApiKey("samesame", "a" * 43), ApiKey("samesame", "b" * 43)])
    monkeypatch.setattr(key_book, "new_key", lambda: next(drawn, None) or new_key())

    async with serving(auth_settings) as client:
        first = await issue_key(auth_settings)
        second = await issue_key(auth_settings)
        rows = await key_rows(client)

    assert first.key_id == "samesame"
    assert second.key_id != "samesame"
    assert [row["key_id"] for row in rows] == sorted([first.key_id, second.key_id])


async def test_a_version_two_database_gets_the_keys_table_at_start(
    auth_settings: Settings,
) -> None:
    metadata = MetaData()
    # version 2 had no keys, and one list version for the one list
    for table in SCHEMA.metadata.sorted_tables:
        if table not in (api_keys, list_versions):
            table.to_metadata(metadata)
    single_list_version.to_metadata(metadata)
    engine = create_engine(auth_settings)
    try:
        await ensure_schema(
            engine, metadata, owner=OWNER, version=2, schema=auth_settings.database_schema
        )
    finally:
        await engine.dispose()

    async with serving(auth_settings) as client:
        key = await issue_key(auth_settings)
        response = await client.get(TODOS, headers=bearer(key))

    assert response.status == 200


async def test_a_rebuild_mends_the_keys_and_keeps_their_last_use(
    auth_settings: Settings,
) -> None:
    async with serving(auth_settings) as client:
        used = await issue_key(auth_settings, tenant="acme")
        revoked = await issue_key(auth_settings, tenant="globex")
        assert (await client.get(TODOS, headers=bearer(used))).status == 200
        await client.app[key_book_key].revoke(revoked.key_id, revoked_by="operator:test")
        before = await key_rows(client)
        store = client.app[store_key]
        async with store.transaction() as conn:
            await conn.execute(update(api_keys).values(revoked_at=None, tenant="wrong"))

        await rebuild(store, PROJECTIONS["todo_api"], Console(file=io.StringIO()))

        after = await key_rows(client)
        refused = await client.get(TODOS, headers=bearer(revoked))

    assert after == before
    assert next(row for row in after if row["key_id"] == used.key_id)["last_used_at"]
    assert refused.status == 401


async def test_exported_keys_work_after_an_import_into_another_database(
    auth_settings: Settings, tmp_path: Path
) -> None:
    async with serving(auth_settings) as client:
        kept = await issue_key(auth_settings)
        revoked = await issue_key(auth_settings)
        await client.app[key_book_key].revoke(revoked.key_id, revoked_by="operator:test")
    archive = tmp_path / "todo_api.jsonl"
    elsewhere = auth_settings.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/elsewhere.db",
            "database_schema": None,
        }
    )
    where = ["--service", "todo_api"]

    exported = await run_replay(auth_settings, tmp_path, "export", *where, "--output", str(archive))
    imported = await run_replay(elsewhere, tmp_path, "import", *where, "--input", str(archive))
    async with serving(elsewhere) as client:
        kept_status = (await client.get(TODOS, headers=bearer(kept))).status
        revoked_status = (await client.get(TODOS, headers=bearer(revoked))).status

    assert (exported.status, imported.status) == (0, 0), (exported, imported)
    assert (kept_status, revoked_status) == (200, 401)
