"""The OIDC verifier of an aiohttp app: its JWKS requests go through a session that opens and
closes with the app, so a service checks tokens against OIDC_ISSUER's keys for as long as it runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from shared.auth.jwks import IssuerUnavailable
from shared.auth.oidc import OidcVerifier, jwks_url
from shared.auth.principal import Principal
from shared.settings import Settings


class AppVerifier:
    """An `OidcVerifier` bound to an app's life: add `cleanup_ctx` to the app's cleanup contexts.

    The settings are checked here, so a service with unsafe OIDC settings refuses to start.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        OidcVerifier(settings, _no_fetch)  # raises SettingsError for unsafe settings, at once
        self._verifier: OidcVerifier | None = None

    async def cleanup_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            self._verifier = OidcVerifier.over_http(self._settings, session)
            try:
                yield
            finally:
                self._verifier = None

    async def principal(self, token: str) -> Principal:
        if self._verifier is None:
            raise IssuerUnavailable(f"no session for {jwks_url(self._settings)} yet")
        return await self._verifier.principal(token)


async def _no_fetch() -> dict[str, object]:
    raise IssuerUnavailable("the settings check fetches nothing")
