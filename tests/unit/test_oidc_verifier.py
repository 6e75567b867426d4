"""The OIDC verifier without a network: the settings it refuses to run with, the JWKS members it
keeps, the key cache's ageing, and that no string whatever makes it raise anything but
InvalidToken (fuzzed)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from shared.auth.jwks import IssuerUnavailable, KeyCache, signing_keys
from shared.auth.oidc import InvalidToken, OidcVerifier, VerifiedTokens
from shared.auth.principal import Principal
from shared.settings import Settings, SettingsError
from tests.support.oidc_issuer import AUDIENCE, LocalIssuer, new_ec_key, public_jwk

ISSUER_URL = "https://issuer.example"
# one issuer for the module: its keys are slow to make
ISSUER = LocalIssuer()
ISSUER.url = ISSUER_URL


class StaticJwks:
    """A JWKS fetcher answering with a fixed document, or failing; counts its calls."""

    def __init__(self, document: Mapping[str, Any] | None) -> None:
        self.document = document
        self.calls = 0

    async def __call__(self) -> Mapping[str, Any]:
        self.calls += 1
        if self.document is None:
            raise IssuerUnavailable("down")
        return self.document


def verifier() -> OidcVerifier:
    return OidcVerifier(ISSUER.settings(), StaticJwks(ISSUER.jwks()))


# every word of every public reason: a reason made of others would be quoting its token
REASON_WORDS = frozenset(
    {
        *("algorithm", "not", "allowed", "key", "does", "fit", "the", "malformed", "sub"),
        *("tenant", "missing", "claim", "exp", "iss", "aud", "no", "id", "role", "reserved"),
        *("unknown", "unsupported", "header", "expired", "yet", "valid", "wrong", "issuer"),
        *("audience", "bad", "signature", "invalid", "token"),
    }
)


def verdict(token: str) -> str:
    """The reason the token is refused for; fails the test on anything but InvalidToken."""
    try:
        principal = asyncio.run(verifier().principal(token))
    except InvalidToken as refusal:
        reason = refusal.reason
    else:
        return f"accepted as {principal}"
    # the reason never quotes the token: its words come from a closed list
    assert set(reason.split()) <= REASON_WORDS, reason
    return reason


@pytest.mark.parametrize("algorithms", [("HS256",), ("RS256", "HS512"), ("none",), ("ES521",)])
def test_symmetric_none_or_unknown_algorithms_are_a_configuration_error(
    algorithms: tuple[str, ...],
) -> None:
    with pytest.raises(SettingsError, match="OIDC_ALGORITHMS"):
        OidcVerifier(ISSUER.settings(oidc_algorithms=algorithms), StaticJwks(None))


def test_no_algorithm_is_a_configuration_error() -> None:
    with pytest.raises(SettingsError, match="OIDC_ALGORITHMS"):
        OidcVerifier(ISSUER.settings(oidc_algorithms=()), StaticJwks(None))


@pytest.mark.parametrize("missing", ["oidc_issuer", "oidc_audience"])
def test_the_issuer_and_audience_are_required(missing: str) -> None:
    with pytest.raises(SettingsError, match=missing.upper()):
        OidcVerifier(ISSUER.settings(**{missing: None}), StaticJwks(None))


def test_every_asymmetric_algorithm_is_accepted_in_the_settings() -> None:
    rsa = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
    algorithms = (*rsa, "ES256", "ES384", "ES512", "ES256K", "EdDSA")

    OidcVerifier(
        Settings(oidc_issuer=ISSUER_URL, oidc_audience=AUDIENCE, oidc_algorithms=algorithms),
        StaticJwks(None),
    )


def test_the_jwks_keeps_only_public_asymmetric_signing_keys_with_an_id() -> None:
    good = public_jwk("good", new_ec_key())
    document = {
        "keys": [
            good,
            {**public_jwk("encryption", new_ec_key()), "use": "enc"},
            {k: v for k, v in public_jwk("no-id", new_ec_key()).items() if k != "kid"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {**public_jwk("private", new_ec_key()), "d": "AAAA"},
            {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AA", "y": "AA"},
            "not a key",
        ]
    }

    assert signing_keys(document) == {"good": good}


@pytest.mark.parametrize("document", [{}, {"keys": "none"}, {"keys": None}])
def test_a_document_without_a_key_list_is_an_unavailable_issuer(document: Any) -> None:
    with pytest.raises(IssuerUnavailable):
        signing_keys(document)


async def test_stale_keys_are_fetched_again_and_kept_while_the_issuer_is_down() -> None:
    now = [0.0]
    fetch = StaticJwks(ISSUER.jwks())
    cache = KeyCache(fetch, refetch_interval_s=10, max_age_s=600, clock=lambda: now[0])
    assert await cache.key(ISSUER.rsa_kid) is not None

    now[0] = 600
    fetch.document = None
    assert await cache.key(ISSUER.rsa_kid) is not None  # stale, but the issuer is down
    assert fetch.calls == 2
    with pytest.raises(IssuerUnavailable):  # can't tell whether it publishes this one
        await cache.key("unknown")

    fetch.document = {"keys": []}  # back, having withdrawn every key
    now[0] = 610
    assert await cache.key(ISSUER.rsa_kid) is None
    assert fetch.calls == 3


def test_a_valid_token_is_accepted_here_too() -> None:
    # the fuzzing below means something only if the same verifier accepts a good token
    assert verdict(ISSUER.token()).startswith("accepted as")


def test_an_ecdsa_key_on_another_curve_than_the_alg_names_is_refused() -> None:
    # ES384 names P-384; the issuer's EC key is on P-256. PyJWT will not sign such a token, so
    # it is put together here with the SHA-384 ECDSA signer that knows no curve
    header = {"alg": "ES384", "kid": ISSUER.ec_kid}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(ISSUER.claims()).encode())}"
    )
    p256_key = ISSUER.keys[ISSUER.ec_kid]
    assert isinstance(p256_key, ec.EllipticCurvePrivateKey)
    signature = ECAlgorithm(ECAlgorithm.SHA384).sign(signing_input.encode(), p256_key)
    both = OidcVerifier(
        ISSUER.settings(oidc_algorithms=("ES256", "ES384")), StaticJwks(ISSUER.jwks())
    )

    with pytest.raises(InvalidToken, match="key does not fit the algorithm"):
        asyncio.run(both.principal(f"{signing_input}.{_b64(signature)}"))


def test_a_key_published_for_one_algorithm_does_not_verify_another() -> None:
    # the JWK says RS256 only: a PS256 signature by the same RSA key is not what it was meant for
    jwks = {"keys": [{**key, "alg": "RS256"} for key in ISSUER.jwks()["keys"]]}
    pinned = OidcVerifier(ISSUER.settings(), StaticJwks(jwks))

    assert asyncio.run(pinned.principal(ISSUER.token(alg="RS256"))).subject == "user-1"
    with pytest.raises(InvalidToken, match="key does not fit the algorithm"):
        asyncio.run(pinned.principal(ISSUER.token(alg="PS256")))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
b64_segments = st.binary(max_size=200).map(_b64) | st.text(max_size=40)
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["RS256", "ES256", "PS256", "HS256", "none", "EdDSA", ""])
        | json_values,
        "kid": st.sampled_from([ISSUER.rsa_kid, ISSUER.ec_kid, ""]) | json_values,
        "typ": json_values,
        "crit": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_refused_with_invalid_token(token: str) -> None:
    verdict(token)


@settings(max_examples=300, deadline=None)
@given(st.lists(b64_segments, min_size=1, max_size=6).map(".".join))
def test_any_segments_are_refused_with_invalid_token(token: str) -> None:
    verdict(token)


@settings(max_examples=300, deadline=None)
@given(headers | json_values, json_values, st.binary(max_size=300))
def test_any_header_payload_and_signature_are_refused_with_invalid_token(
    header: Any, payload: Any, signature: bytes
) -> None:
    parts = [json.dumps(header).encode(), json.dumps(payload).encode(), signature]
    token = ".".join(_b64(part) for part in parts)

    assert not verdict(token).startswith("accepted")


claim_names = st.sampled_from(["iss", "aud", "sub", "tenant", "roles", "exp", "nbf", "iat"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(claim_names, json_values), st.sampled_from(["RS256", "PS256", "ES256"]))
def test_any_claims_signed_by_the_issuer_are_a_principal_or_invalid_token(
    claims: dict[str, Any], alg: str
) -> None:
    # the issuer's own signature gets past the JWS checks to the claims' own
    verdict(ISSUER.token(alg=alg, **claims))


@pytest.mark.parametrize(
    "token",
    [
        "a" * 1_000_000,
        "é.é.é",
        f"{_b64(b'[' * 20_000)}.{_b64(b'{}')}.",
        f"{_b64(json.dumps({'alg': 'RS256', 'kid': 'x' * 10_000}).encode())}.e30.",
        ".." * 5000,
        "\x00.\x00.\x00",
    ],
    ids=["huge", "non-ascii", "deep-header", "long-kid", "dots", "nul"],
)
def test_pathological_strings_are_refused_with_invalid_token(token: str) -> None:
    verdict(token)


@pytest.mark.parametrize("exp", [float("inf"), float("nan"), "tomorrow", [1]])
def test_an_expiry_that_is_no_number_is_refused(exp: object) -> None:
    # infinity is beyond any integer: PyJWT's int() overflows
    assert verdict(ISSUER.token(exp=exp, iat=int(time.time()))) == "malformed"


class TestVerifiedTokens:
    """A token verified once is not verified again until its expiry; nothing else is let in."""

    def counting_decodes(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        decoded: list[str] = []
        real_decode = jwt.decode

        def decode(token: str, *args: Any, **kwargs: Any) -> Any:
            decoded.append(token)
            return real_decode(token, *args, **kwargs)

        monkeypatch.setattr(jwt, "decode", decode)
        return decoded

    async def test_the_same_token_again_costs_no_second_check(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        decoded = self.counting_decodes(monkeypatch)
        checking = verifier()
        token = ISSUER.token(sub="user-7")

        first = await checking.principal(token)
        again = await checking.principal(token)

        assert first == again
        assert first.subject == "user-7"
        assert decoded == [token]

    async def test_a_token_differing_in_one_character_is_checked_and_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        decoded = self.counting_decodes(monkeypatch)
        checking = verifier()
        token = ISSUER.token()
        await checking.principal(token)
        head, payload, signature = token.split(".")
        flipped = "A" if signature[5] != "A" else "B"
        tampered = f"{head}.{payload}.{signature[:5]}{flipped}{signature[6:]}"

        with pytest.raises(InvalidToken):
            await checking.principal(tampered)
        assert decoded == [token, tampered]

    async def test_past_its_expiry_and_leeway_a_token_is_checked_again(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        decoded = self.counting_decodes(monkeypatch)
        now = [time.time()]
        checking = OidcVerifier(
            ISSUER.settings(), StaticJwks(ISSUER.jwks()), wall_clock=lambda: now[0]
        )
        exp = int(now[0]) + 60
        token = ISSUER.token(exp=exp)
        await checking.principal(token)

        now[0] = exp + ISSUER.settings().oidc_leeway_s
        await checking.principal(token)
        assert len(decoded) == 1
        now[0] += 1
        # the real clock has not reached `exp`: PyJWT accepts it, after checking it again
        await checking.principal(token)
        assert len(decoded) == 2

    def test_the_least_recently_used_token_is_forgotten_first(self) -> None:
        tokens = VerifiedTokens(capacity=2)
        alice, bob, carol = (
            Principal(tenant="acme", subject=name, roles=frozenset({"member"}))
            for name in ("alice", "bob", "carol")
        )
        tokens.remember("a", alice, usable_until=100)
        tokens.remember("b", bob, usable_until=100)
        assert tokens.principal("a", now=50) == alice
        tokens.remember("c", carol, usable_until=100)

        assert len(tokens) == 2
        assert tokens.principal("b", now=50) is None
        assert tokens.principal("a", now=50) == alice
        assert tokens.principal("a", now=101) is None
        assert len(tokens) == 1
