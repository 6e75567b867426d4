"""Who a request acts as: the authentication middleware, and the role some paths require.

AUTH_MODE=none: every request is ANONYMOUS, as in the practical's contract. AUTH_MODE=required:
`Authorization: Bearer <credential>`, an API key (found in the database on every request, so a
revoked key fails at once on every instance) or a token for the bearer-token verifier (OIDC).
The principal goes on the request under `principal_key`. Whatever the header holds, a bad one
answers 401 JSON with `WWW-Authenticate: Bearer`, never a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from shared.auth.api_keys import StoredKey, looks_like_key, matches, parse_key
from shared.auth.principal import ANONYMOUS, Principal, Role
from shared.clock import utcnow
from shared.outages import DependencyUnavailableError
from shared.web.http import json_error

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

principal_key = web.RequestKey("principal", Principal)

# three base64url segments: a JWS in compact form, which only the token verifier can judge
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# no credential is this long; a longer header is refused before anything reads it
MAX_CREDENTIAL_CHARS = 16384


class BearerVerifier(Protocol):
    """Turns a bearer token (an OIDC JWT) into a principal. It raises VerifierUnavailable when it
    cannot judge (its issuer's keys are unreachable: 503) and anything else for a token it
    refuses (401)."""

    async def principal(self, token: str) -> Principal: ...


class VerifierUnavailable(DependencyUnavailableError):
    """The verifier cannot judge a token now (its issuer is away): the request may try again.
    Any dependency outage a verifier raises (DependencyUnavailableError) is answered alike."""


class KeyDirectory(Protocol):
    """Where API keys are kept: found per request, their use noted now and then."""

    async def find(self, key_id: str) -> StoredKey | None: ...

    async def note_use(self, key_id: str, at: datetime) -> None: ...


@dataclass(frozen=True)
class AccessRules:
    """Which routes need no credentials, and which need a role, by their resource's canonical
    path (the route aiohttp matched, so an encoded or odd spelling of a path is judged as the
    route it reaches; a path no route matches needs credentials)."""

    public: frozenset[str] = frozenset()
    required_roles: Mapping[str, Role] = field(default_factory=dict)


class Refused(Exception):
    """A credential was missing or refused: answered 401 with this public reason."""

    def __init__(self, reason: str, *, given: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.given = given


def authentication(
    *,
    required: bool,
    rules: AccessRules,
    keys: Callable[[], KeyDirectory],
    verifier: BearerVerifier | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Middleware:
    """The middleware: ANONYMOUS for everyone unless `required`; then credentials from
    `keys()` (looked up when a request comes, so the directory may be opened after the app
    starts) or `verifier`, and the role `rules` ask for."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not required:
            request[principal_key] = ANONYMOUS
            return await handler(request)
        route = _canonical(request)
        if route in rules.public:
            request[principal_key] = ANONYMOUS
            return await handler(request)
        try:
            principal = await _authenticate(request, keys(), verifier, clock)
        except Refused as refused:
            return unauthorized(refused.reason, given=refused.given)
        except DependencyUnavailableError:
            logger.warning("%s %s: the token verifier is unavailable", request.method, route)
            return json_error("Cannot verify the token now, try again shortly", 503)
        needed = rules.required_roles.get(route or "")
        if needed is not None and not principal.may(needed):
            return json_error(f"This needs the {needed} role", 403)
        request[principal_key] = principal
        return await handler(request)

    return authenticate


def unauthorized(reason: str, *, given: bool) -> web.Response:
    """401 with the challenge RFC 6750 asks for; `given`: a credential came and was refused."""
    response = json_error(reason, 401)
    challenge = 'Bearer error="invalid_token"' if given else "Bearer"
    response.headers["WWW-Authenticate"] = challenge
    return response


def _canonical(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return None if resource is None else resource.canonical


async def _authenticate(
    request: web.Request,
    keys: KeyDirectory,
    verifier: BearerVerifier | None,
    clock: Callable[[], datetime],
) -> Principal:
    credential = bearer_credential(request.headers.getall("Authorization", []))
    if looks_like_key(credential):
        return await _key_principal(credential, keys, clock)
    if _JWT.fullmatch(credential) is None:
        raise Refused("Malformed credentials", given=True)
    if verifier is None:
        raise Refused("OIDC is not configured", given=True)
    try:
        return await verifier.principal(credential)
    except DependencyUnavailableError:
        raise
    except Exception as exc:
        # the verifier's reasons are for the log: a client learns only that the token failed
        logger.info("bearer token refused: %r", exc)
        raise Refused("Invalid token", given=True) from None


def bearer_credential(headers: list[str]) -> str:
    """The credential of the one `Authorization: Bearer` header; Refused for anything else."""
    if not headers:
        raise Refused("Authentication required", given=False)
    if len(headers) > 1:
        raise Refused("Send one Authorization header", given=True)
    header = headers[0]
    if len(header) > MAX_CREDENTIAL_CHARS:
        raise Refused("Malformed credentials", given=True)
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise Refused("Use Authorization: Bearer <credential>", given=True)
    return credential


async def _key_principal(
    credential: str, keys: KeyDirectory, clock: Callable[[], datetime]
) -> Principal:
    key = parse_key(credential)
    if key is None:
        raise Refused("Malformed API key", given=True)
    stored = await keys.find(key.key_id)
    # one answer for an unknown key, a wrong secret and a revoked key: none tells which
    if stored is None or not matches(key, stored.secret_sha256) or stored.revoked_at is not None:
        raise Refused("Invalid API key", given=True)
    now = clock()
    if stored.needs_use_noted(now):
        try:
            await keys.note_use(key.key_id, now)
        except Exception:
            # when a key was last used is bookkeeping: never a reason to refuse the request
            logger.warning("could not note the use of API key %s", key.key_id, exc_info=True)
    return stored.principal
