"""Who may reach which of todo_api's routes when AUTH_MODE=required, and how the OpenAPI
document says so.

The health and readiness probes, the web pages (the operations page too) with their static
files, how they sign in, the OpenAPI and AsyncAPI documents and the page that shows them (with
Swagger UI's files) need no credentials (load balancers and
browsers ask for them before anyone signs in; a page holds no data, it signs in and then asks
the API with the credentials it got), nor does
a tenant's secret calendar feed URL, whose secret stands for them (calendar apps cannot send
any; feed_url_views.py); the operations page's JSON needs the operator role; every other route
a member's credentials. The operations page's JSON includes its dead letters routes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from services.todo_api.docs_views import ASYNCAPI_PATH, DOCS_PATH, SWAGGER_UI_PREFIX
from services.todo_api.feed_url_views import SECRET_FEED_PATH
from services.todo_api.sign_in import AUTH_CONFIG_PATH
from shared.auth.middleware import AccessRules
from shared.auth.principal import Role
from shared.contracts.responses import Error
from shared.web.openapi import Route

PUBLIC_ROUTES = frozenset(
    {
        "/api/v1/health",
        "/api/v1/ready",
        "/",
        "/ops",
        "/static",
        "/api/v1/openapi.json",
        ASYNCAPI_PATH,
        DOCS_PATH,
        SWAGGER_UI_PREFIX,
        AUTH_CONFIG_PATH,
        SECRET_FEED_PATH,
    }
)
OPERATOR_ROUTES: dict[str, Role] = {
    path: "operator"
    for path in (
        "/api/v1/ops",
        "/api/v1/ops/dead-letters",
        "/api/v1/ops/dead-letters/message",
        "/api/v1/ops/dead-letters/redrives",
        "/api/v1/ops/dead-letters/discards",
    )
}


def access_rules() -> AccessRules:
    return AccessRules(public=PUBLIC_ROUTES, required_roles=OPERATOR_ROUTES)


def documented_routes(routes: Sequence[Route]) -> list[Route]:
    """The routes with the answers authentication adds: 401 on every route that needs
    credentials, 403 on those that need a role."""
    documented = []
    for route in routes:
        if route.path in PUBLIC_ROUTES:
            documented.append(route)
            continue
        added: dict[int, type[Error] | str] = {401: Error}
        if route.path in OPERATOR_ROUTES:
            added[403] = Error
        documented.append(dataclasses.replace(route, responses={**added, **route.responses}))
    return documented
