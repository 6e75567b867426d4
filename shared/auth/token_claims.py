"""What a verified token's claims mean: the principal they name (subject, tenant, roles), and the
InvalidToken a token is refused with. Pure: the signature and the time claims are oidc.py's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.auth.principal import ROLES, Principal, Role
from shared.contracts.tenancy import ANONYMOUS_TENANT

# a tenant names rows, paths and metric labels: a short token of safe characters
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_SUBJECT_CHARS = 256
_ROLE_BY_NAME: dict[str, Role] = {role: role for role in ROLES}


class InvalidToken(Exception):
    """The token proves nothing (answered 401). `reason` is short and public: it never quotes the
    token or its claims."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def principal_from_claims(
    claims: Mapping[str, Any], *, tenant_claim: str, roles_claim: str
) -> Principal:
    """The principal a verified token's claims name.

    A token with no known role is refused ("no role") rather than let in to do nothing: a person
    the issuer has not placed in a group yet is told so at once, and every principal that gets
    past authentication may do something. The tenant "anonymous" is reserved for AUTH_MODE=none,
    whose data an issuer must not hand to a person by naming a tenant so.
    """
    return Principal(
        tenant=_tenant(claims.get(tenant_claim)),
        subject=_subject(claims.get("sub")),
        roles=_known_roles(claims.get(roles_claim)),
    )


def _subject(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidToken("missing claim sub")
    if len(value) > MAX_SUBJECT_CHARS or not value.isprintable():
        raise InvalidToken("malformed sub")
    return value


def _tenant(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidToken("missing tenant")
    if not TENANT_PATTERN.fullmatch(value):
        raise InvalidToken("malformed tenant")
    if value == ANONYMOUS_TENANT:
        raise InvalidToken("reserved tenant")
    return value


def _known_roles(value: object) -> frozenset[Role]:
    """The known roles among the claim's: a list of names (Cognito's `cognito:groups`) or one
    space-separated string (an OAuth scope style claim); names it does not know are ignored."""
    if isinstance(value, str):
        names = value.split()
    elif isinstance(value, list):
        names = [name for name in value if isinstance(name, str)]
    else:
        names = []
    roles = frozenset(_ROLE_BY_NAME[name] for name in names if name in _ROLE_BY_NAME)
    if not roles:
        raise InvalidToken("no role")
    return roles
