"""How the web pages sign in: `GET /api/v1/auth/config` tells them whether credentials are needed
and, when OIDC_ISSUER and OIDC_CLIENT_ID are set, where to send the user (authorization code with
PKCE). The issuer's endpoints come from its discovery document, asked for here rather than by
the page, so a page calls no host it was not told of; the pages' Content-Security-Policy then
lets them call the token endpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from services.todo_api.app_keys import settings_key, tracker_client_key
from services.todo_api.page_headers import CONTENT_SECURITY_POLICY
from services.todo_api.schemas import AuthConfig, OidcSignIn
from shared.settings import Settings
from shared.web.http import json_response

logger = logging.getLogger(__name__)

AUTH_CONFIG_PATH = "/api/v1/auth/config"
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class IssuerEndpoints:
    authorization_endpoint: str
    token_endpoint: str

    @property
    def token_origin(self) -> str:
        parts = urlsplit(self.token_endpoint)
        return f"{parts.scheme}://{parts.netloc}"


class SignIn:
    """The issuer's endpoints once discovered; a failed discovery is asked again next time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoints: IssuerEndpoints | None = None

    @property
    def offers_oidc(self) -> bool:
        settings = self.settings
        return settings.auth_mode == "required" and bool(
            settings.oidc_issuer and settings.oidc_client_id
        )

    async def discover(self, client: aiohttp.ClientSession) -> IssuerEndpoints | None:
        if self.endpoints is None and self.offers_oidc:
            self.endpoints = await _discovered(client, str(self.settings.oidc_issuer))
        return self.endpoints

    @property
    def page_policy(self) -> str:
        """The pages' Content-Security-Policy: they may call the token endpoint too."""
        if self.endpoints is None:
            return CONTENT_SECURITY_POLICY
        own = "connect-src 'self'"
        return CONTENT_SECURITY_POLICY.replace(own, f"{own} {self.endpoints.token_origin}")


sign_in_key = web.AppKey("sign_in", SignIn)


async def _discovered(client: aiohttp.ClientSession, issuer: str) -> IssuerEndpoints | None:
    try:
        async with client.get(issuer.rstrip("/") + DISCOVERY_PATH) as answer:
            answer.raise_for_status()
            document = await answer.json()
        return _endpoints(document, issuer)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # the pages still offer API keys; the next page load asks again
        logger.warning("OIDC discovery at %s failed: %s", issuer, exc)
        return None


def _endpoints(document: Any, issuer: str) -> IssuerEndpoints:
    """The endpoints a discovery document names, if it is this issuer's (OIDC Discovery 4.3)."""
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise ValueError("the discovery document names another issuer")
    return IssuerEndpoints(
        _endpoint(document, "authorization_endpoint"), _endpoint(document, "token_endpoint")
    )


def _endpoint(document: dict[str, Any], name: str) -> str:
    url = document.get(name)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError(f"the discovery document has no {name}")
    return url


async def auth_config_view(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    endpoints = await request.app[sign_in_key].discover(request.app[tracker_client_key])
    oidc = None
    if endpoints is not None:
        oidc = OidcSignIn(
            issuer=str(settings.oidc_issuer),
            client_id=str(settings.oidc_client_id),
            authorization_endpoint=endpoints.authorization_endpoint,
            token_endpoint=endpoints.token_endpoint,
            scope=settings.oidc_scope,
        )
    return json_response(AuthConfig(mode=settings.auth_mode, oidc=oidc))


async def page_response(request: web.Request, page: Path) -> web.FileResponse:
    """A page, with the policy that lets it finish a sign-in at the issuer's token endpoint."""
    sign_in = request.app[sign_in_key]
    await sign_in.discover(request.app[tracker_client_key])
    return web.FileResponse(page, headers={"Content-Security-Policy": sign_in.page_policy})
