"""A local OIDC issuer for tests: an aiohttp server on 127.0.0.1 serving a discovery document
and a JWKS of keys made for the run (RSA and EC, rotatable), and minting tokens with any claims,
header, algorithm or key, including the forged ones the attack tests need (`alg: none`, HS256
signed with the public key). It counts the JWKS fetches and can answer them with an error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
        return app

    async def _discovery(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.url,
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
            }
        )

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
