"""todo_api with AUTH_MODE=required, on a real socket, on SQLite and PostgreSQL: credentials or
401, the public routes, API keys, a plugged-in token verifier, the operator role, and garbage
Authorization headers that never reach a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.todo_api.app import create_app
from services.todo_api.app_keys import store_key
from services.todo_api.tables import api_keys
from shared.auth.api_keys import ApiKey
from shared.auth.middleware import VerifierUnavailable
from shared.auth.principal import Principal
from shared.settings import Settings
from tests.support.auth import bearer, issue_key, raw_status, requiring_credentials
from tests.support.todo_http import TODOS, Client

OPS = "/api/v1/ops"
A_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


class FakeVerifier:
    """Accepts one token as a member of `people`; says its issuer is away for another."""

    GOOD, AWAY = A_JWT, "aaa.bbb.ccc"

    async def principal(self, token: str) -> Principal:
        if token == self.GOOD:
            return Principal(tenant="people", subject="alice", roles=frozenset({"member"}))
        if token == self.AWAY:
            raise VerifierUnavailable("issuer unreachable")
        raise ValueError("signature does not verify")


@pytest.fixture
def auth_settings(service_settings: Settings) -> Settings:
    return requiring_credentials(service_settings)


@pytest.fixture
async def client(auth_settings: Settings) -> AsyncIterator[Client]:
    app = create_app(auth_settings, verifier=FakeVerifier())
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def member(client: Client, auth_settings: Settings) -> ApiKey:
    # the client started the app, which made the tables
    return await issue_key(auth_settings, roles=["member"])


async def error_of(response: Any) -> str:
    assert response.content_type == "application/json"
    body: dict[str, str] = await response.json()
    assert set(body) == {"error"}
    return body["error"]


class TestWithoutCredentials:
    async def test_a_todo_route_answers_401_json_with_a_bearer_challenge(
        self, client: Client
    ) -> None:
        response = await client.get(TODOS)

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert await error_of(response) == "Authentication required"

    async def test_writes_are_refused_too_and_change_nothing(
        self, client: Client, member: ApiKey
    ) -> None:
        refused = await client.post(TODOS, json={"title": "sneaky"})
        listed = await client.get(TODOS, headers=bearer(member))

        assert refused.status == 401
        assert await listed.json() == []

    @pytest.mark.parametrize(
        "path",
        ["/api/v1/health", "/api/v1/openapi.json", "/", "/static/app.js", "/api/v1/ready"],
    )
    async def test_the_probes_the_page_and_the_document_need_none(
        self, client: Client, path: str
    ) -> None:
        response = await client.get(path)

        # readiness may be 503 (no tracker here): what matters is that no credential was asked
        assert response.status in {200, 503}, await response.text()
        assert "WWW-Authenticate" not in response.headers

    async def test_an_unknown_path_asks_for_credentials_before_saying_anything(
        self, client: Client
    ) -> None:
        assert (await client.get("/api/v1/nothing-here")).status == 401


class TestApiKeys:
    async def test_an_issued_key_reads_and_writes_todos(
        self, client: Client, member: ApiKey
    ) -> None:
        created = await client.post(TODOS, json={"title": "with a key"}, headers=bearer(member))
        listed = await client.get(TODOS, headers=bearer(member))

        assert created.status == 201
        assert [todo["title"] for todo in await listed.json()] == ["with a key"]

    @pytest.mark.parametrize(
        "credential",
        [
            "wrong secret",
            "unknown id",
            "tok_short",
        ],
    )
    async def test_a_bad_key_is_refused_as_an_invalid_token(
        self, client: Client, member: ApiKey, credential: str
    ) -> None:
        spelled = {
            "wrong secret": ApiKey(member.key_id, "x" * 43),
            "unknown id": ApiKey("zzzzzzzz", member.secret),
            "tok_short": "tok_short",
        }[credential]

        response = await client.get(TODOS, headers=bearer(spelled))

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert await error_of(response) in {"Invalid API key", "Malformed API key"}

    async def test_another_scheme_is_refused(self, client: Client, member: ApiKey) -> None:
        response = await client.get(TODOS, headers={"Authorization": f"Basic {member}"})

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    async def test_a_use_is_noted_at_most_once_a_minute(
        self, client: Client, member: ApiKey
    ) -> None:
        async def last_used() -> Any:
            query = select(api_keys.c.last_used_at).where(api_keys.c.key_id == member.key_id)
            async with client.app[store_key].engine.connect() as conn:
                return (await conn.execute(query)).scalar_one()

        before = await last_used()
        await client.get(TODOS, headers=bearer(member))
        first = await last_used()
        await client.get(TODOS, headers=bearer(member))
        await client.get(TODOS, headers=bearer(member))

        assert before is None
        assert first is not None
        assert await last_used() == first


class TestBearerTokens:
    async def test_a_token_the_verifier_accepts_acts_as_its_principal(self, client: Client) -> None:
        assert (await client.get(TODOS, headers=bearer(FakeVerifier.GOOD))).status == 200

    async def test_a_token_it_refuses_is_401_without_its_reason(self, client: Client) -> None:
        response = await client.get(TODOS, headers=bearer("xxx.yyy.zzz"))

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert await error_of(response) == "Invalid token"

    async def test_an_issuer_away_is_503(self, client: Client) -> None:
        response = await client.get(TODOS, headers=bearer(FakeVerifier.AWAY))

        assert response.status == 503
        await error_of(response)

    async def test_without_a_verifier_a_token_is_401_oidc_not_configured(
        self, auth_settings: Settings
    ) -> None:
        async with TestClient(TestServer(create_app(auth_settings))) as client:
            response = await client.get(TODOS, headers=bearer(A_JWT))
            reason = await error_of(response)

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert reason == "OIDC is not configured"


class TestOperatorRole:
    async def test_a_member_is_refused_the_operations_json(
        self, client: Client, member: ApiKey
    ) -> None:
        response = await client.get(OPS, headers=bearer(member))

        assert response.status == 403
        assert await error_of(response) == "This needs the operator role"

    async def test_the_operations_page_itself_needs_no_credentials(self, client: Client) -> None:
        # it holds no figures: it signs in, then asks the JSON with the credentials it got
        response = await client.get("/ops")

        assert response.status == 200
        assert response.content_type == "text/html"

    async def test_an_operator_reads_them(self, client: Client, auth_settings: Settings) -> None:
        operator = await issue_key(auth_settings, roles=["member", "operator"])

        response = await client.get(OPS, headers=bearer(operator))

        assert response.status == 200, await response.text()

    async def test_the_document_lists_401_and_403(self, client: Client) -> None:
        paths = (await (await client.get("/api/v1/openapi.json")).json())["paths"]

        assert "401" in paths[TODOS]["get"]["responses"]
        assert "403" in paths[OPS]["get"]["responses"]
        assert "401" not in paths["/api/v1/health"]["get"]["responses"]


class TestGarbageHeaders:
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        value=st.one_of(
            st.binary(max_size=300),
            st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
            st.text(max_size=200).map(lambda text: f"Bearer {text}".encode("utf-8", "replace")),
            st.from_regex(r"Bearer tok_[a-z0-9]{0,10}_[A-Za-z0-9_-]{0,60}", fullmatch=True).map(
                str.encode
            ),
        )
    )
    async def test_never_a_server_error(self, client: Client, value: bytes) -> None:
        # on the wire as given: CR and LF would end the header, so they are left out
        header = value.replace(b"\r", b"").replace(b"\n", b"")
        server = client.server

        status = await raw_status(str(server.host), int(server.port or 0), TODOS, header)

        assert status in {400, 401}, header
