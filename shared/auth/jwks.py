"""An OIDC issuer's signing keys: fetching its JWKS over HTTP (bounded in time and size), keeping
the public keys by key id, and refetching them rarely enough that made-up key ids cannot hammer
the issuer. Turning a key into a verdict on a token is oidc.py's job."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from shared.outages import DependencyUnavailableError

logger = logging.getLogger(__name__)

# a JWKS is a few keys; an answer far larger is not one and is not read to the end
MAX_JWKS_BYTES = 256 * 1024
JWKS_TIMEOUT_S = 5.0
# at most one fetch per this many seconds for key ids the cache does not know, whatever the traffic
REFETCH_INTERVAL_S = 10.0
# known keys are fetched again this often, so a key the issuer withdrew stops being accepted
KEYS_MAX_AGE_S = 600.0
MAX_KEY_ID_CHARS = 256

JwkDict = dict[str, Any]
PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
PUBLIC_KEY_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)
# the key types the asymmetric JWS algorithms use; "oct" (HMAC secrets) is never kept
ASYMMETRIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


class IssuerUnavailable(DependencyUnavailableError):
    """The issuer's keys cannot be had (unreachable, slow, an error, not a JWKS): an outage of a
    dependency, answered 503, not a verdict on the token."""


class JwksFetcher(Protocol):
    """Gets the issuer's JWKS document, or raises IssuerUnavailable."""

    async def __call__(self) -> Mapping[str, Any]: ...


class HttpJwksFetcher:
    """The JWKS from its URL with the caller's aiohttp session: one GET, no redirects, a timeout
    and a size cap, so a slow or hostile endpoint costs a request at most that much."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        timeout_s: float = JWKS_TIMEOUT_S,
        max_bytes: int = MAX_JWKS_BYTES,
    ) -> None:
        self._session = session
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_bytes = max_bytes

    async def __call__(self) -> Mapping[str, Any]:
        try:
            body = await self._get()
            document = json.loads(body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise IssuerUnavailable(f"JWKS at {self._url}: {type(exc).__name__}") from exc
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deep
            raise IssuerUnavailable(f"JWKS at {self._url} is not JSON") from exc
        if not isinstance(document, dict):
            raise IssuerUnavailable(f"JWKS at {self._url} is not a JSON object")
        return document

    async def _get(self) -> bytes:
        async with self._session.get(
            self._url, timeout=self._timeout, allow_redirects=False
        ) as answer:
            if answer.status != 200:
                raise IssuerUnavailable(f"JWKS at {self._url} answered {answer.status}")
            if (answer.content_length or 0) > self._max_bytes:
                raise IssuerUnavailable(f"JWKS at {self._url} is too large")
            body = bytearray()
            async for chunk in answer.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > self._max_bytes:
                    raise IssuerUnavailable(f"JWKS at {self._url} is too large")
            return bytes(body)


def signing_keys(document: Mapping[str, Any]) -> dict[str, JwkDict]:
    """The JWKS's usable signing keys by key id: asymmetric public keys with a key id, meant for
    signatures. A member that is none of that (a private or symmetric key, an encryption key, a
    key that does not parse) is left out rather than failing the whole set."""
    members = document.get("keys")
    if not isinstance(members, list):
        raise IssuerUnavailable("JWKS has no 'keys' list")
    keys: dict[str, JwkDict] = {}
    for jwk in members:
        if _is_signing_key(jwk):
            keys[jwk["kid"]] = jwk
    return keys


def _is_signing_key(jwk: object) -> bool:
    if not isinstance(jwk, dict):
        return False
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KEY_ID_CHARS:
        return False
    if jwk.get("kty") not in ASYMMETRIC_KEY_TYPES or jwk.get("use", "sig") != "sig":
        return False
    # a private member ("d") means a published secret: never use such a key
    return "d" not in jwk and public_key(jwk) is not None


def public_key(jwk: JwkDict) -> PublicKey | None:
    """The JWK as a public key object, or None when it is not a public key PyJWT can read."""
    try:
        key = jwt.PyJWK(jwk).key
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return key if isinstance(key, PUBLIC_KEY_TYPES) else None


class KeyCache:
    """The issuer's signing keys by key id, fetched on first use and again when stale.

    A key id the cache does not know makes it refetch, at most once per `refetch_interval_s`
    (concurrent askers share the one fetch); within the interval an unknown id is simply unknown.
    While the last fetch failed, a key id it does not hold raises IssuerUnavailable (whether the
    issuer publishes it cannot be told); a failed refetch of stale keys keeps serving them (logged)
    rather than failing every token while the issuer is down.
    """

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
        max_age_s: float = KEYS_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refetch_interval_s = refetch_interval_s
        self._max_age_s = max_age_s
        self._clock = clock
        self._keys: dict[str, JwkDict] = {}
        self._fetched_at: float | None = None  # last success
        self._attempted_at: float | None = None  # last fetch that finished, either way
        self._last_failure: IssuerUnavailable | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> JwkDict | None:
        """The JWK the issuer publishes under `kid`, or None when it publishes none (as of the
        last fetch allowed). Raises IssuerUnavailable while the issuer's keys were never had."""
        if self._is_stale():
            await self._refresh_stale()
        jwk = self._keys.get(kid)
        if jwk is None:
            await self._refresh(needed=lambda: kid not in self._keys)
            jwk = self._keys.get(kid)
        if jwk is None and self._last_failure is not None:
            # the issuer is down: whether it publishes this key id cannot be told
            raise IssuerUnavailable(str(self._last_failure))
        return jwk

    def _is_stale(self) -> bool:
        return self._fetched_at is not None and self._age(self._fetched_at) >= self._max_age_s

    async def _refresh_stale(self) -> None:
        try:
            await self._refresh(needed=self._is_stale)
        except IssuerUnavailable as exc:
            logger.warning("keeping the issuer's stale keys: %s", exc)

    async def _refresh(self, needed: Callable[[], bool]) -> None:
        async with self._lock:
            # whoever held the lock before may have fetched already, or fetched too recently
            if not needed() or self._recently_attempted():
                return
            try:
                keys = signing_keys(await self._fetch())
            except IssuerUnavailable as exc:
                self._attempted_at = self._clock()
                self._last_failure = exc
                raise
            self._keys = keys
            self._fetched_at = self._attempted_at = self._clock()
            self._last_failure = None

    def _recently_attempted(self) -> bool:
        return (
            self._attempted_at is not None
            and self._age(self._attempted_at) < self._refetch_interval_s
        )

    def _age(self, since: float) -> float:
        return self._clock() - since
