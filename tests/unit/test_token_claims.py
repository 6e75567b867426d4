"""The principal a verified token's claims name, and the claims that name none."""

from __future__ import annotations

from typing import Any

import pytest

from shared.auth.principal import Principal
from shared.auth.token_claims import InvalidToken, principal_from_claims


def principal(claims: dict[str, Any], roles_claim: str = "roles") -> Principal:
    return principal_from_claims(claims, tenant_claim="tenant", roles_claim=roles_claim)


def reason(claims: dict[str, Any]) -> str:
    with pytest.raises(InvalidToken) as refusal:
        principal(claims)
    return refusal.value.reason


def test_the_claims_name_tenant_subject_and_roles() -> None:
    claims = {"sub": "alice", "tenant": "acme", "roles": ["member"]}

    assert principal(claims) == Principal("acme", "alice", frozenset({"member"}))


@pytest.mark.parametrize(
    "roles",
    [["operator", "member"], "operator member", "  member\toperator ", ["member", 7, "operator"]],
)
def test_roles_come_as_a_list_or_a_space_separated_string(roles: object) -> None:
    claims = {"sub": "alice", "tenant": "acme", "roles": roles}

    assert principal(claims).roles == {"member", "operator"}


def test_cognito_groups_may_hold_the_roles_among_other_groups() -> None:
    claims = {"sub": "a", "tenant": "acme", "cognito:groups": ["admins", "operator"]}

    assert principal(claims, roles_claim="cognito:groups").roles == {"operator"}


@pytest.mark.parametrize(
    "roles", [None, [], "", ["admin"], "Member", {"member": True}, 1, ["member "]]
)
def test_a_token_with_no_known_role_is_refused(roles: object) -> None:
    claims = {"sub": "alice", "tenant": "acme", "roles": roles}

    assert reason(claims) == "no role"


@pytest.mark.parametrize(
    ("tenant", "why"),
    [
        (None, "missing tenant"),
        ("", "missing tenant"),
        (["acme"], "missing tenant"),
        ("acme/../other", "malformed tenant"),
        ("-acme", "malformed tenant"),
        ("a" * 65, "malformed tenant"),
        ("acmé", "malformed tenant"),
        ("acme\n", "malformed tenant"),
        ("anonymous", "reserved tenant"),
    ],
)
def test_the_tenant_is_a_short_safe_name(tenant: object, why: str) -> None:
    assert reason({"sub": "alice", "tenant": tenant, "roles": ["member"]}) == why


def test_a_tenant_may_use_letters_digits_dots_dashes_and_underscores() -> None:
    claims = {"sub": "alice", "tenant": "Acme-2.eu_west", "roles": ["member"]}

    assert principal(claims).tenant == "Acme-2.eu_west"


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        (None, "missing claim sub"),
        ("", "missing claim sub"),
        (42, "missing claim sub"),
        ("x" * 257, "malformed sub"),
        ("alice\x00", "malformed sub"),
    ],
)
def test_the_subject_is_a_printable_string(subject: object, why: str) -> None:
    assert reason({"sub": subject, "tenant": "acme", "roles": ["member"]}) == why
