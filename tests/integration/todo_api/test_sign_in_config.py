"""GET /api/v1/auth/config: what the web pages need to sign in, with no credentials; and the
pages' policy, which lets them call the issuer's token endpoint once it is discovered."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from shared.settings import Settings
from tests.support.oidc_issuer import AUDIENCE, LocalIssuer, running_issuer
from tests.support.todo_http import Client

CONFIG = "/api/v1/auth/config"


async def config_of(settings: Settings) -> tuple[int, Any, str]:
    """The route's status and body, and the web page's Content-Security-Policy after it."""
    async with TestClient(TestServer(create_app(settings))) as client:
        answer = await client.get(CONFIG)
        page = await client.get("/")
        return answer.status, await answer.json(), page.headers["Content-Security-Policy"]


def signing_in_with(issuer: LocalIssuer, service_settings: Settings, **more: Any) -> Settings:
    oidc = issuer.settings(**({"oidc_client_id": AUDIENCE} | more))
    trusted = oidc.model_dump(include={"auth_mode", "oidc_issuer", "oidc_audience"})
    trusted |= oidc.model_dump(include={"oidc_jwks_url", "oidc_client_id", "oidc_scope"})
    return service_settings.model_copy(update=trusted)


async def test_without_credentials_required_there_is_nothing_to_sign_in(client: Client) -> None:
    answer = await client.get(CONFIG)

    assert answer.status == 200
    assert await answer.json() == {"mode": "none", "oidc": None}


async def test_with_credentials_required_and_no_issuer_only_api_keys(
    service_settings: Settings,
) -> None:
    required = service_settings.model_copy(update={"auth_mode": "required"})

    status, body, policy = await config_of(required)

    assert (status, body) == (200, {"mode": "required", "oidc": None})
    assert "connect-src 'self';" in policy


async def test_an_issuer_without_a_client_id_offers_only_api_keys(
    service_settings: Settings,
) -> None:
    async with running_issuer() as issuer:
        settings = signing_in_with(issuer, service_settings, oidc_client_id=None)

        _, body, _ = await config_of(settings)

    assert body == {"mode": "required", "oidc": None}


async def test_an_issuer_and_client_offer_oidc_with_the_discovered_endpoints(
    service_settings: Settings,
) -> None:
    async with running_issuer() as issuer:
        settings = signing_in_with(issuer, service_settings, oidc_scope="openid profile")

        status, body, policy = await config_of(settings)

    assert status == 200
    assert body == {
        "mode": "required",
        "oidc": {
            "issuer": issuer.url,
            "client_id": AUDIENCE,
            "authorization_endpoint": f"{issuer.url}/authorize",
            "token_endpoint": f"{issuer.url}/token",
            "scope": "openid profile",
        },
    }
    assert f"connect-src 'self' {issuer.url};" in policy


async def test_an_issuer_that_does_not_answer_leaves_api_keys(
    service_settings: Settings,
) -> None:
    async with running_issuer() as issuer:
        settings = signing_in_with(issuer, service_settings)
    # the issuer has stopped: its discovery document cannot be had

    status, body, policy = await config_of(settings)

    assert (status, body) == (200, {"mode": "required", "oidc": None})
    assert "connect-src 'self';" in policy


async def test_a_discovery_document_of_another_issuer_is_not_used(
    service_settings: Settings,
) -> None:
    async with running_issuer() as issuer:
        settings = signing_in_with(issuer, service_settings)
        # its document is found (the trailing slash is dropped) but names `issuer.url`, not this
        settings = settings.model_copy(update={"oidc_issuer": f"{issuer.url}/"})

        _, body, _ = await config_of(settings)

    assert body["oidc"] is None
