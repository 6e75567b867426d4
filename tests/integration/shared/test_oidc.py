"""OIDC bearer tokens against a real issuer on a loopback socket: the principal a valid token
names, every way a token is refused, key rotation, the issuer's outage, and how often the
verifier may fetch the issuer's keys."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from shared.auth.jwks import HttpJwksFetcher
from shared.auth.oidc import InvalidToken, IssuerUnavailable, OidcVerifier
from shared.auth.principal import Principal
from tests.support.oidc_issuer import (
    AUDIENCE,
    LocalIssuer,
    forged_token,
    new_rsa_key,
    public_pem,
    running_issuer,
)

REFETCH_INTERVAL_S = 10.0


class FakeClock:
    """Monotonic time that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def issuer() -> AsyncIterator[LocalIssuer]:
    async with running_issuer() as issuer:
        yield issuer


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(issuer: LocalIssuer, session: aiohttp.ClientSession, clock: FakeClock) -> OidcVerifier:
    return OidcVerifier(
        issuer.settings(),
        HttpJwksFetcher(session, issuer.jwks_url),
        refetch_interval_s=REFETCH_INTERVAL_S,
        clock=clock,
    )


async def refused(verifier: OidcVerifier, token: str) -> str:
    """The reason the verifier gives for refusing the token."""
    with pytest.raises(InvalidToken) as refusal:
        await verifier.principal(token)
    assert token not in str(refusal.value)
    return refusal.value.reason


def with_payload(token: str, claims: dict[str, object]) -> str:
    """The token with its payload swapped for `claims`, its header and signature kept."""
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


async def test_a_valid_token_names_its_tenant_subject_and_roles(
    issuer: LocalIssuer, verifier: OidcVerifier
) -> None:
    token = issuer.token(sub="alice", tenant="acme", roles=["member", "operator", "auditor"])

    principal = await verifier.principal(token)

    assert principal == Principal(
        tenant="acme", subject="alice", roles=frozenset({"member", "operator"})
    )


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_each_allowed_algorithm_verifies_with_the_issuers_key(
    issuer: LocalIssuer, verifier: OidcVerifier, alg: str
) -> None:
    principal = await verifier.principal(issuer.token(alg=alg))

    assert principal.subject == "user-1"


async def test_cognito_groups_and_an_audience_list_are_understood(
    issuer: LocalIssuer, session: aiohttp.ClientSession
) -> None:
    verifier = OidcVerifier.over_http(
        issuer.settings(oidc_roles_claim="cognito:groups", oidc_tenant_claim="custom:tenant"),
        session,
    )
    # Cognito's claim names are no Python names
    cognito: dict[str, Any] = {"cognito:groups": ["operator"], "custom:tenant": "globex"}
    token = issuer.token(**cognito, aud=["another-client", AUDIENCE])

    principal = await verifier.principal(token)

    assert (principal.tenant, principal.roles) == ("globex", frozenset({"operator"}))


async def test_the_leeway_forgives_a_little_clock_skew(
    issuer: LocalIssuer, verifier: OidcVerifier
) -> None:
    now = int(time.time())
    token = issuer.token(exp=now - 10, nbf=now + 10, iat=now + 10)

    assert (await verifier.principal(token)).subject == "user-1"


@dataclass(frozen=True)
class FromNow:
    """A time claim this many seconds from when the test runs."""

    seconds: int


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": FromNow(-120)}, "expired"),
        ({"nbf": FromNow(120)}, "not yet valid"),
        ({"iat": FromNow(120)}, "not yet valid"),
        ({"iss": "http://127.0.0.1:1"}, "wrong issuer"),
        ({"aud": "another-client"}, "wrong audience"),
        ({"exp": None}, "missing claim exp"),
        ({"aud": None}, "missing claim aud"),
        ({"sub": None}, "missing claim sub"),
        ({"tenant": None}, "missing tenant"),
        ({"tenant": "../etc"}, "malformed tenant"),
        ({"roles": ["admin"]}, "no role"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_a_token_whose_claims_do_not_hold_is_refused(
    issuer: LocalIssuer, verifier: OidcVerifier, claims: dict[str, Any], reason: str
) -> None:
    # times are taken now, not when the tests were collected (minutes earlier in a full run)
    now = int(time.time())
    at_run: dict[str, Any] = {
        name: now + value.seconds if isinstance(value, FromNow) else value
        for name, value in claims.items()
    }

    assert await refused(verifier, issuer.token(**at_run)) == reason


async def test_alg_none_is_refused(issuer: LocalIssuer, verifier: OidcVerifier) -> None:
    token = forged_token({"alg": "none", "kid": issuer.rsa_kid}, issuer.claims(), None)

    assert await refused(verifier, token) == "algorithm not allowed"


async def test_hs256_signed_with_the_public_key_is_refused(
    issuer: LocalIssuer, verifier: OidcVerifier
) -> None:
    # the key-confusion attack: the RSA public key's bytes, which anyone has, as an HMAC secret
    public_key = public_pem(issuer.keys[issuer.rsa_kid])
    token = forged_token({"alg": "HS256", "kid": issuer.rsa_kid}, issuer.claims(), public_key)

    assert await refused(verifier, token) == "algorithm not allowed"


async def test_a_key_of_another_family_than_the_alg_is_refused(
    issuer: LocalIssuer, verifier: OidcVerifier
) -> None:
    # ES256, allowed, but naming the RSA key: the key must fit the alg, not just be known
    token = issuer.token(alg="ES256", kid=issuer.rsa_kid, key=issuer.keys[issuer.ec_kid])

    assert await refused(verifier, token) == "key does not fit the algorithm"


async def test_a_tampered_payload_is_refused(issuer: LocalIssuer, verifier: OidcVerifier) -> None:
    token = with_payload(issuer.token(), issuer.claims(tenant="globex", roles=["operator"]))

    assert await refused(verifier, token) == "bad signature"


async def test_a_token_signed_by_another_issuer_is_refused(
    issuer: LocalIssuer, verifier: OidcVerifier, clock: FakeClock
) -> None:
    async with running_issuer() as other:
        # claiming our issuer and our key id, signed with its own key
        impostor = other.token(iss=issuer.url, kid=issuer.rsa_kid, key=other.keys[other.rsa_kid])
        assert await refused(verifier, impostor) == "bad signature"
        # and under its own key id, which our issuer does not publish
        clock.advance(REFETCH_INTERVAL_S)
        assert await refused(verifier, other.token(iss=issuer.url)) == "unknown key"


async def test_an_unknown_kid_is_refused_after_one_refetch(
    issuer: LocalIssuer, verifier: OidcVerifier, clock: FakeClock
) -> None:
    await verifier.principal(issuer.token())
    unpublished = issuer.add_key(new_rsa_key(), publish=False)
    clock.advance(REFETCH_INTERVAL_S)

    assert await refused(verifier, issuer.token(kid=unpublished)) == "unknown key"
    assert issuer.jwks_fetches == 2


async def test_a_rotated_key_verifies_after_one_refetch(
    issuer: LocalIssuer, verifier: OidcVerifier, clock: FakeClock
) -> None:
    old_token = issuer.token()
    await verifier.principal(old_token)
    new_kid = issuer.rotate()
    clock.advance(REFETCH_INTERVAL_S)

    principal = await verifier.principal(issuer.token(kid=new_kid))

    assert principal.subject == "user-1"
    assert issuer.jwks_fetches == 2
    # the old key is still published, so tokens it signed stay good until they expire
    assert (await verifier.principal(old_token)).subject == "user-1"
    assert issuer.jwks_fetches == 2


async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_interval(
    issuer: LocalIssuer, verifier: OidcVerifier, clock: FakeClock
) -> None:
    await verifier.principal(issuer.token())
    unpublished = issuer.keys[issuer.add_key(new_rsa_key(), publish=False)]

    async def flood() -> None:
        for _ in range(25):
            token = issuer.token(kid=uuid.uuid4().hex, key=unpublished)
            assert await refused(verifier, token) == "unknown key"

    await flood()
    assert issuer.jwks_fetches == 1  # the first fetch was less than an interval ago
    clock.advance(REFETCH_INTERVAL_S)
    await flood()
    assert issuer.jwks_fetches == 2


async def test_concurrent_first_tokens_share_one_fetch(
    issuer: LocalIssuer, verifier: OidcVerifier
) -> None:
    principals = await asyncio.gather(*(verifier.principal(issuer.token()) for _ in range(20)))

    assert {principal.subject for principal in principals} == {"user-1"}
    assert issuer.jwks_fetches == 1


async def test_an_issuer_answering_errors_is_unavailable_until_it_recovers(
    issuer: LocalIssuer, verifier: OidcVerifier, clock: FakeClock
) -> None:
    issuer.jwks_status = 503
    with pytest.raises(IssuerUnavailable):
        await verifier.principal(issuer.token())
    # within the interval the verifier does not ask again, and still cannot tell
    with pytest.raises(IssuerUnavailable):
        await verifier.principal(issuer.token())
    assert issuer.jwks_fetches == 1

    issuer.jwks_status = 200
    clock.advance(REFETCH_INTERVAL_S)

    assert (await verifier.principal(issuer.token())).subject == "user-1"


async def test_an_issuer_that_is_not_listening_is_unavailable(
    session: aiohttp.ClientSession,
) -> None:
    async with running_issuer() as issuer:
        token = issuer.token()
        settings = issuer.settings()
    verifier = OidcVerifier.over_http(settings, session)

    with pytest.raises(IssuerUnavailable):
        await verifier.principal(token)


async def test_a_jwks_larger_than_the_cap_is_unavailable(
    issuer: LocalIssuer, session: aiohttp.ClientSession
) -> None:
    fetcher = HttpJwksFetcher(session, issuer.jwks_url, max_bytes=100)
    verifier = OidcVerifier(issuer.settings(), fetcher)

    with pytest.raises(IssuerUnavailable):
        await verifier.principal(issuer.token())


@pytest.mark.parametrize(
    "body",
    [b"<html>", b"\xff\xfe", b"[" * 100_000, b'["keys"]', b'{"keys": 5}'],
    ids=["html", "not-utf8", "deeply-nested", "array", "keys-not-a-list"],
)
async def test_an_answer_that_is_no_jwks_is_unavailable(
    issuer: LocalIssuer, verifier: OidcVerifier, body: bytes
) -> None:
    issuer.jwks_body = body

    with pytest.raises(IssuerUnavailable):
        await verifier.principal(issuer.token())
