"""todo_api with AUTH_MODE=required and OIDC_ISSUER set: people's tokens checked against a real
local issuer's keys over a socket, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from shared.settings import Settings, SettingsError
from tests.support.oidc_issuer import LocalIssuer, running_issuer
from tests.support.todo_http import TODOS, Client

OPS = "/api/v1/ops"


@pytest.fixture
async def issuer() -> AsyncIterator[LocalIssuer]:
    async with running_issuer() as issuer:
        yield issuer


def trusting(issuer: LocalIssuer, service_settings: Settings) -> Settings:
    oidc = issuer.settings().model_dump(include={"auth_mode", "oidc_issuer", "oidc_audience"})
    oidc |= issuer.settings().model_dump(include={"oidc_jwks_url", "oidc_algorithms"})
    return service_settings.model_copy(update=oidc)


@pytest.fixture
async def client(issuer: LocalIssuer, service_settings: Settings) -> AsyncIterator[Client]:
    app = create_app(trusting(issuer, service_settings))
    async with TestClient(TestServer(app)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestPeoplesTokens:
    async def test_a_valid_token_reads_and_writes_todos(
        self, client: Client, issuer: LocalIssuer
    ) -> None:
        token = issuer.token()

        created = await client.post(TODOS, json={"title": "Signed in"}, headers=bearer(token))
        listed = await client.get(TODOS, headers=bearer(token))

        assert created.status == 201
        assert [todo["title"] for todo in await listed.json()] == ["Signed in"]

    async def test_an_expired_token_is_a_401_with_the_invalid_token_challenge(
        self, client: Client, issuer: LocalIssuer
    ) -> None:
        expired = issuer.token(exp=int(time.time()) - 3600)

        response = await client.get(TODOS, headers=bearer(expired))

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert await response.json() == {"error": "Invalid token"}

    async def test_a_token_of_another_issuer_is_a_401(self, client: Client) -> None:
        async with running_issuer() as stranger:
            response = await client.get(TODOS, headers=bearer(stranger.token()))

        assert response.status == 401

    async def test_a_member_token_may_not_open_the_operations_figures(
        self, client: Client, issuer: LocalIssuer
    ) -> None:
        response = await client.get(OPS, headers=bearer(issuer.token(roles=["member"])))

        assert response.status == 403

    async def test_an_issuer_whose_keys_cannot_be_had_is_a_503_not_a_verdict(
        self, client: Client, issuer: LocalIssuer
    ) -> None:
        issuer.jwks_status = 503

        response = await client.get(TODOS, headers=bearer(issuer.token()))

        assert response.status == 503
        assert set(await response.json()) == {"error"}


def test_unsafe_oidc_settings_stop_the_service_before_it_starts(
    issuer_free_settings: Settings,
) -> None:
    unsafe = issuer_free_settings.model_copy(
        update={
            "auth_mode": "required",
            "oidc_issuer": "http://127.0.0.1:9/",
            "oidc_audience": "taskoverflow",
            "oidc_algorithms": ("HS256",),
        }
    )

    with pytest.raises(SettingsError, match="OIDC_ALGORITHMS"):
        create_app(unsafe)


@pytest.fixture
def issuer_free_settings(tmp_path: object) -> Settings:
    return Settings(var_dir=tmp_path)
