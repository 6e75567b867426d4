"""A service's authentication, wired the same way in every service that serves HTTP to clients:
the middleware (middleware.py) with the service's access rules and key directory, and, when
OIDC_ISSUER is set, a verifier of its tokens that opens and closes with the app."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from shared.auth.app_verifier import AppVerifier
from shared.auth.middleware import AccessRules, BearerVerifier, KeyDirectory, authentication
from shared.settings import Settings


def service_authentication(
    app: web.Application,
    settings: Settings,
    *,
    rules: AccessRules,
    keys: Callable[[], KeyDirectory],
    verifier: BearerVerifier | None = None,
) -> Middleware:
    """The middleware for `app`: with AUTH_MODE=required, API keys from `keys()` and tokens that
    `verifier` accepts (None: OIDC_ISSUER's, when it is set, else API keys only)."""
    required = settings.auth_mode == "required"
    if verifier is None and required and settings.oidc_issuer is not None:
        issuer = AppVerifier(settings)
        app.cleanup_ctx.append(issuer.cleanup_ctx)
        verifier = issuer
    return authentication(required=required, rules=rules, keys=keys, verifier=verifier)
