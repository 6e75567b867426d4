"""The local test issuer's sign-in, which the web page's browser tests depend on: a code for the
redirect_uri, traded once, and only with the PKCE verifier whose S256 challenge came with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest

from tests.support.oidc_issuer import AUDIENCE, LocalIssuer, running_issuer, s256_challenge

VERIFIER = "v" * 43
PAGE = "http://127.0.0.1:1/"


@pytest.fixture
async def issuer() -> AsyncIterator[LocalIssuer]:
    async with running_issuer() as issuer:
        yield issuer


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def authorize(http: aiohttp.ClientSession, issuer: LocalIssuer) -> dict[str, list[str]]:
    """The query the issuer sends the browser back with."""
    asked = {
        "response_type": "code",
        "client_id": AUDIENCE,
        "redirect_uri": PAGE,
        "scope": "openid",
        "state": "the-state",
        "nonce": "the-nonce",
        "code_challenge": s256_challenge(VERIFIER),
        "code_challenge_method": "S256",
    }
    async with http.get(f"{issuer.url}/authorize", params=asked, allow_redirects=False) as answer:
        assert answer.status == 302
        back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == PAGE
    return parse_qs(back.query)


async def trade(
    http: aiohttp.ClientSession, issuer: LocalIssuer, code: str, verifier: str = VERIFIER
) -> aiohttp.ClientResponse:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": PAGE,
        "client_id": AUDIENCE,
        "code_verifier": verifier,
    }
    async with http.post(f"{issuer.url}/token", data=form) as answer:
        await answer.read()
        return answer


async def test_the_right_verifier_gets_an_id_token_for_the_client(
    http: aiohttp.ClientSession, issuer: LocalIssuer
) -> None:
    back = await authorize(http, issuer)
    answer = await trade(http, issuer, back["code"][0])

    assert back["state"] == ["the-state"]
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    claims = jwt.decode((await answer.json())["id_token"], options={"verify_signature": False})
    assert (claims["aud"], claims["nonce"], claims["tenant"]) == (AUDIENCE, "the-nonce", "acme")


async def test_a_wrong_verifier_is_refused(
    http: aiohttp.ClientSession, issuer: LocalIssuer
) -> None:
    back = await authorize(http, issuer)
    answer = await trade(http, issuer, back["code"][0], verifier="w" * 43)

    assert answer.status == 400
    assert await answer.json() == {"error": "invalid_grant"}


async def test_a_code_is_traded_once(http: aiohttp.ClientSession, issuer: LocalIssuer) -> None:
    code = (await authorize(http, issuer))["code"][0]
    await trade(http, issuer, code)

    again = await trade(http, issuer, code)

    assert again.status == 400
