"""OIDC bearer tokens: `OidcVerifier.principal(token)` checks a JWT against the configured
issuer (its signature with the issuer's published key, the algorithm, iss, aud, exp, nbf, iat)
and returns the Principal its claims name, or raises InvalidToken (401) or IssuerUnavailable
(503). It never raises anything else, whatever the string. The keys are jwks.py's; what the
claims mean is token_claims.py's; every JOSE step is PyJWT's.

A token once verified is remembered (`VerifiedTokens`) until it expires: the same token on the
next request costs a lookup, not a signature check. Gateways do the same (Envoy's JWT filter keeps
a cache of verified tokens): a JWT cannot be revoked before its `exp` anyway, so the cache
accepts nothing the verifier would not, save a token whose key the issuer withdrew meanwhile.

Only asymmetric algorithms are ever accepted (RS*, PS*, ES*, EdDSA): `none` and HMAC would let
anyone holding the public key, or nobody at all, sign. The key must also be of the family the
token's `alg` names, so a token cannot make an RSA public key serve as an HMAC secret.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from shared.auth.jwks import (
    KEYS_MAX_AGE_S,
    MAX_KEY_ID_CHARS,
    REFETCH_INTERVAL_S,
    HttpJwksFetcher,
    IssuerUnavailable,
    JwkDict,
    JwksFetcher,
    KeyCache,
    public_key,
)
from shared.auth.principal import Principal
from shared.auth.token_claims import InvalidToken, principal_from_claims
from shared.settings import Settings, SettingsError

__all__ = ["InvalidToken", "IssuerUnavailable", "OidcVerifier", "jwks_url"]

# far above any real token (Cognito's are a few KiB), far below what costs to parse
MAX_TOKEN_CHARS = 16 * 1024
# the verified tokens remembered per process, the least recently used forgotten first (some
# 1,000 active sessions at a few KiB each)
VERIFIED_TOKENS = 1024

# the asymmetric JWS algorithms, each with the key it verifies with: a type, and for ECDSA a curve
_RSA = (rsa.RSAPublicKey,)
_EDDSA = (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
_KEY_FOR_ALGORITHM: dict[str, tuple[tuple[type, ...], str | None]] = {
    **{alg: (_RSA, None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ((ec.EllipticCurvePublicKey,), "secp256r1"),
    "ES384": ((ec.EllipticCurvePublicKey,), "secp384r1"),
    "ES512": ((ec.EllipticCurvePublicKey,), "secp521r1"),
    "ES256K": ((ec.EllipticCurvePublicKey,), "secp256k1"),
    "EdDSA": (_EDDSA, None),
}
ASYMMETRIC_ALGORITHMS = frozenset(_KEY_FOR_ALGORITHM)

# PyJWT's verdicts as public reasons, most specific first (subclasses before their bases)
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not yet valid"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidKeyError, "key does not fit the algorithm"),
    (jwt.DecodeError, "malformed"),
)


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    # the token's `exp` plus the leeway, in seconds since the epoch: refused from then on
    usable_until: float


class VerifiedTokens:
    """Tokens verified already, with their principal, until their expiry (plus the leeway)."""

    def __init__(self, capacity: int = VERIFIED_TOKENS) -> None:
        self._capacity = capacity
        self._tokens: OrderedDict[str, _Verified] = OrderedDict()

    def principal(self, token: str, now: float) -> Principal | None:
        found = self._tokens.get(token)
        if found is None:
            return None
        if now > found.usable_until:
            del self._tokens[token]
            return None
        self._tokens.move_to_end(token)
        return found.principal

    def remember(self, token: str, principal: Principal, usable_until: float) -> None:
        self._tokens[token] = _Verified(principal, usable_until)
        self._tokens.move_to_end(token)
        while len(self._tokens) > self._capacity:
            self._tokens.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tokens)


def jwks_url(settings: Settings) -> str:
    """Where the issuer's keys are: OIDC_JWKS_URL, else <issuer>/.well-known/jwks.json."""
    if settings.oidc_jwks_url:
        return settings.oidc_jwks_url
    return f"{(settings.oidc_issuer or '').rstrip('/')}/.well-known/jwks.json"


class OidcVerifier:
    """Verifies bearer tokens of the one issuer the settings name."""

    def __init__(
        self,
        settings: Settings,
        fetch_jwks: JwksFetcher,
        *,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
        keys_max_age_s: float = KEYS_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        verified: VerifiedTokens | None = None,
    ) -> None:
        """Raises SettingsError for settings that cannot verify safely: no issuer or audience,
        no algorithm, or one that is not asymmetric (`none`, HS256...). `clock` ages the keys,
        `wall_clock` (seconds since the epoch, as `exp` counts) the verified tokens."""
        self._issuer, self._audience = _issuer_and_audience(settings)
        self._algorithms = _asymmetric_algorithms(settings.oidc_algorithms)
        self._leeway_s = settings.oidc_leeway_s
        self._tenant_claim = settings.oidc_tenant_claim
        self._roles_claim = settings.oidc_roles_claim
        self._keys = KeyCache(
            fetch_jwks, refetch_interval_s=refetch_interval_s, max_age_s=keys_max_age_s, clock=clock
        )
        self._wall_clock = wall_clock
        self._verified = VerifiedTokens() if verified is None else verified

    @classmethod
    def over_http(cls, settings: Settings, session: aiohttp.ClientSession) -> OidcVerifier:
        """A verifier that fetches the issuer's JWKS with the caller's session."""
        return cls(settings, HttpJwksFetcher(session, jwks_url(settings)))

    async def principal(self, token: str) -> Principal:
        """The principal a valid token names. Raises InvalidToken (with a public reason) for any
        token that does not prove one, IssuerUnavailable when the issuer's keys cannot be had."""
        if isinstance(token, str):
            known = self._verified.principal(token, self._wall_clock())
            if known is not None:
                return known
        header = _unverified_header(token)
        alg, kid = self._algorithm(header), _key_id(header)
        jwk = await self._keys.key(kid)
        if jwk is None:
            raise InvalidToken("unknown key")
        claims = self._verified_claims(token, self._verification_key(jwk, alg))
        principal = principal_from_claims(
            claims, tenant_claim=self._tenant_claim, roles_claim=self._roles_claim
        )
        # `exp` is required and PyJWT checked it is a number
        self._verified.remember(token, principal, float(claims["exp"]) + self._leeway_s)
        return principal

    def _algorithm(self, header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidToken("algorithm not allowed")
        return alg

    def _verification_key(self, jwk: JwkDict, alg: str) -> jwt.PyJWK:
        """The JWK as PyJWT's key bound to `alg`, once the key is of the family `alg` names and
        the JWK names no other algorithm for itself."""
        if jwk.get("alg", alg) != alg or not _fits(public_key(jwk), alg):
            raise InvalidToken("key does not fit the algorithm")
        try:
            return jwt.PyJWK(jwk, algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken("key does not fit the algorithm") from None

    def _verified_claims(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"missing claim {exc.claim}") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise InvalidToken("malformed") from None


def _unverified_header(token: object) -> Mapping[str, Any]:
    """The JOSE header of a compact JWS of sane size, read without trusting it."""
    if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed")
    if token.count(".") != 2:  # a JWE (5 parts) or not a JWT at all
        raise InvalidToken("malformed")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError):
        raise InvalidToken("malformed") from None
    if "crit" in header:  # extensions we do not understand must not be ignored (RFC 7515)
        raise InvalidToken("unsupported header")
    return header


def _key_id(header: Mapping[str, Any]) -> str:
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KEY_ID_CHARS:
        raise InvalidToken("no key id")
    return kid


def _fits(key: object, alg: str) -> bool:
    types, curve = _KEY_FOR_ALGORITHM[alg]
    if not isinstance(key, types):
        return False
    return curve is None or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == curve)


def _reason(exc: jwt.PyJWTError) -> str:
    return next((reason for kind, reason in _REASONS if isinstance(exc, kind)), "invalid token")


def _issuer_and_audience(settings: Settings) -> tuple[str, str]:
    if not settings.oidc_issuer:
        raise SettingsError("invalid setting OIDC_ISSUER: required to verify OIDC tokens")
    if not settings.oidc_audience:
        raise SettingsError("invalid setting OIDC_AUDIENCE: required when OIDC_ISSUER is set")
    return settings.oidc_issuer, settings.oidc_audience


def _asymmetric_algorithms(configured: tuple[str, ...]) -> frozenset[str]:
    if not configured:
        raise SettingsError("invalid setting OIDC_ALGORITHMS: name at least one algorithm")
    refused = [alg for alg in configured if alg not in ASYMMETRIC_ALGORITHMS]
    if refused:
        raise SettingsError(
            f"invalid setting OIDC_ALGORITHMS: {', '.join(refused)} not accepted; only the "
            f"asymmetric {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
        )
    return frozenset(configured)
