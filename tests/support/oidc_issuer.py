"""A local OIDC issuer for tests: an aiohttp server on 127.0.0.1 serving a discovery document
and a JWKS of keys made for the run (RSA and EC, rotatable), and minting tokens with any claims,
header, algorithm or key, including the forged ones the attack tests need (`alg: none`, HS256
signed with the public key). It counts the JWKS fetches and can answer them with an error.

It also signs a test user in as a browser would: its authorization endpoint approves at once and
sends the browser back with a code, and its token endpoint trades the code, with the PKCE
verifier whose S256 challenge came with it, for an ID token (aud: the client) and an access token
(aud: its userinfo endpoint, which the API would refuse)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.settings import Settings

AUDIENCE = "taskoverflow-test"
_kid_numbers = itertools.count(1)

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(kid: str, key: SigningKey) -> dict[str, Any]:
    """The key's public half as a JWK, as an issuer publishes it (no `alg`: RSA keys serve RS*
    and PS* alike)."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def public_pem(key: SigningKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_token(header: dict[str, Any], claims: dict[str, Any], hmac_secret: bytes | None) -> str:
    """A JWS put together by hand, as an attacker would: HS256 with `hmac_secret`, or no
    signature at all when it is None (`alg: none`). PyJWT refuses to make either."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if hmac_secret is None:
        return f"{signing_input}."
    signature = hmac.new(hmac_secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def s256_challenge(verifier: str) -> str:
    """PKCE's S256: the unpadded base64url SHA-256 of the verifier (RFC 7636, 4.2)."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


@dataclass(frozen=True)
class Grant:
    """What an authorization request asked for, kept until its code is traded."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None


class LocalIssuer:
    """One issuer: its keys by kid (an RSA and an EC one to begin with), the ones it publishes,
    and its URL once `running_issuer` has started it."""

    def __init__(self) -> None:
        self.keys: dict[str, SigningKey] = {}
        self.published: list[str] = []
        self.rsa_kid = self.add_key(new_rsa_key())
        self.ec_kid = self.add_key(new_ec_key())
        self.url = ""
        self.jwks_fetches = 0
        # what the JWKS endpoint answers with: 200 and the keys, or this status and nothing
        self.jwks_status = 200
        # a body to answer with instead of the JWKS (a broken or hostile issuer)
        self.jwks_body: bytes | None = None
        # the one client it signs users in for, and the claims of the user it signs in
        self.client_id = AUDIENCE
        self.user: dict[str, Any] = {}
        self.grants: dict[str, Grant] = {}

    def add_key(self, key: SigningKey, *, publish: bool = True) -> str:
        kid = f"{'rsa' if isinstance(key, rsa.RSAPrivateKey) else 'ec'}-{next(_kid_numbers)}"
        self.keys[kid] = key
        if publish:
            self.published.append(kid)
        return kid

    def rotate(self) -> str:
        """Publish a new RSA key next to the old ones and sign with it from now on."""
        self.rsa_kid = self.add_key(new_rsa_key())
        return self.rsa_kid

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def settings(self, **overrides: Any) -> Settings:
        """Settings that trust this issuer (and only it)."""
        values: dict[str, Any] = {
            "auth_mode": "required",
            "oidc_issuer": self.url,
            "oidc_audience": AUDIENCE,
            "oidc_jwks_url": self.jwks_url,
            "oidc_algorithms": ("RS256", "PS256", "ES256"),
            "oidc_leeway_s": 30,
        }
        return Settings(**(values | overrides))

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """A member of tenant acme's claims, valid for five minutes; an override of None drops
        the claim."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "user-1",
            "tenant": "acme",
            "roles": ["member"],
            "iat": now,
            "exp": now + 300,
        } | overrides
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        *,
        alg: str = "RS256",
        kid: str | None = None,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed by PyJWT, whatever its claims: with this issuer's RSA key (EC for
        ES*) unless `kid` or `key` say otherwise; `headers` add to the JOSE header's."""
        kid = kid or (self.ec_kid if alg.startswith("ES") else self.rsa_kid)
        signing_key = key if key is not None else self.keys[kid]
        # PyJWS signs any payload; PyJWT's encode would refuse the odd claims some tests want
        return jwt.PyJWS().encode(
            json.dumps(self.claims(**claims)).encode(),
            signing_key,
            algorithm=alg,
            headers={"kid": kid, **(headers or {})},
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/.well-known/jwks.json", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        return app

    async def _discovery(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.url,
                "jwks_uri": self.jwks_url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        """Approve at once: back to the client's redirect_uri with a code and its state."""
        asked = request.query
        if (asked.get("response_type"), asked.get("client_id")) != ("code", self.client_id):
            return web.json_response({"error": "unauthorized_client"}, status=400)
        if asked.get("code_challenge_method") != "S256" or not asked.get("code_challenge"):
            return web.json_response({"error": "invalid_request"}, status=400)
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            self.client_id, asked["redirect_uri"], asked["code_challenge"], asked.get("nonce")
        )
        back = urlencode({"code": code, "state": asked.get("state", "")})
        raise web.HTTPFound(f"{asked['redirect_uri']}?{back}")

    async def _token(self, request: web.Request) -> web.Response:
        """Trade a code, once, for tokens; the verifier must be the challenge's (RFC 7636, 4.6)."""
        form = await request.post()
        grant = self.grants.pop(str(form.get("code")), None)
        if grant is None or not _grant_fits(grant, form):
            return _cross_origin(web.json_response({"error": "invalid_grant"}, status=400))
        id_claims = {"aud": grant.client_id, "nonce": grant.nonce, **self.user}
        answer = {
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.token(**id_claims),
            "access_token": self.token(aud=f"{self.url}/userinfo", **self.user),
        }
        return _cross_origin(web.json_response(answer, headers={"Cache-Control": "no-store"}))

    async def _jwks(self, _: web.Request) -> web.Response:
        self.jwks_fetches += 1
        if self.jwks_status != 200:
            return web.Response(status=self.jwks_status, text="unavailable")
        if self.jwks_body is not None:
            return web.Response(body=self.jwks_body, content_type="application/json")
        return web.json_response(self.jwks())

    def jwks(self) -> dict[str, Any]:
        """The JWKS document it publishes."""
        return {"keys": [public_jwk(kid, self.keys[kid]) for kid in self.published]}


def _grant_fits(grant: Grant, form: Any) -> bool:
    verifier = str(form.get("code_verifier", ""))
    return (
        form.get("grant_type") == "authorization_code"
        and form.get("client_id") == grant.client_id
        and form.get("redirect_uri") == grant.redirect_uri
        and hmac.compare_digest(s256_challenge(verifier), grant.code_challenge)
    )


def _cross_origin(response: web.Response) -> web.Response:
    # the web page trades its code from its own origin: a form POST, no preflight needed
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@asynccontextmanager
async def running_issuer(issuer: LocalIssuer | None = None) -> AsyncIterator[LocalIssuer]:
    """The issuer served on a free loopback port until the block ends."""
    issuer = issuer or LocalIssuer()
    runner = web.AppRunner(issuer.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    issuer.url = f"http://{host}:{port}"
    try:
        yield issuer
    finally:
        await runner.cleanup()


@contextmanager
def issuer_in_thread(issuer: LocalIssuer | None = None) -> Iterator[LocalIssuer]:
    """`running_issuer` on an event loop of its own, for tests that have none (the browser's)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="oidc-issuer", daemon=True)
    thread.start()
    serving = running_issuer(issuer)
    try:
        yield asyncio.run_coroutine_threadsafe(serving.__aenter__(), loop).result(timeout=10)
    finally:
        asyncio.run_coroutine_threadsafe(serving.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
