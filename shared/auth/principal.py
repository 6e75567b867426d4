"""The principal a request acts as: one tenant, one subject, the roles it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# member: its tenant's todos and jobs; operator: also the operations page, across tenants
Role = Literal["member", "operator"]
ROLES: frozenset[Role] = frozenset({"member", "operator"})
ANONYMOUS_TENANT = "anonymous"


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        return role in self.roles


# AUTH_MODE=none: everyone is this principal, with every role, as in the practical's contract
ANONYMOUS = Principal(tenant=ANONYMOUS_TENANT, subject="anonymous", roles=ROLES)
