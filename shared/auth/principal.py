"""The principal a request acts as: one tenant, one subject, the roles it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contracts.tenancy import ANONYMOUS_ACTOR, ANONYMOUS_TENANT, Origin

# member: its tenant's todos and jobs; operator: also the operations page, across tenants
Role = Literal["member", "operator"]
ROLES: frozenset[Role] = frozenset({"member", "operator"})


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        return role in self.roles

    @property
    def origin(self) -> Origin:
        """What the events this principal's requests record say of their tenant and actor."""
        return Origin(tenant=self.tenant, actor=self.subject)


# AUTH_MODE=none: everyone is this principal, with every role, as in the practical's contract
ANONYMOUS = Principal(tenant=ANONYMOUS_TENANT, subject=ANONYMOUS_ACTOR, roles=ROLES)
