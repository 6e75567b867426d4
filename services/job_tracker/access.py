"""Who may reach which of the job tracker's routes when AUTH_MODE=required: the probes need no
credentials, the jobs overview (all tenants' figures) the operator role, every other route a
member's credentials, and shows that member's tenant only."""

from __future__ import annotations

from shared.auth.middleware import AccessRules
from shared.auth.principal import Role
from shared.contracts.ops_report import JOBS_OVERVIEW_PATH

PUBLIC_ROUTES = frozenset({"/api/v1/health", "/api/v1/ready"})
OPERATOR_ROUTES: dict[str, Role] = {JOBS_OVERVIEW_PATH: "operator"}


def access_rules() -> AccessRules:
    return AccessRules(public=PUBLIC_ROUTES, required_roles=OPERATOR_ROUTES)
