"""Every route of the three services, read from their OpenAPI documents, and what the access
rules make of each: public, for operators, or for a member of the tenant whose data it is.

A route added to a service's ROUTES is in its document, so in these lists, with no edit here;
one that should be public or for operators only is refused by the tests until it is named below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.calendar_worker import routes as calendar_worker
from services.job_tracker import routes as job_tracker
from services.todo_api import routes as todo_api
from shared.contracts.ops_report import JOBS_OVERVIEW_PATH
from shared.web.openapi import Route, openapi_document

DOCUMENTED: Mapping[str, Sequence[Route]] = {
    "todo_api": todo_api.ROUTES,
    "job_tracker": job_tracker.ROUTES,
    "calendar_worker": calendar_worker.ROUTES,
}
# what todo_api serves beside the routes its document describes: the document itself, the
# AsyncAPI document, the page that shows both (with Swagger UI's files), and the web page with
# its files; by the path the access rules judge (the route's), the URL asked for
BESIDE_THE_DOCUMENT: Mapping[str, Mapping[str, str]] = {
    "todo_api": {
        "/api/v1/openapi.json": "/api/v1/openapi.json",
        "/api/asyncapi.json": "/api/asyncapi.json",
        "/api/docs": "/api/docs",
        "/": "/",
        "/static": "/static/app.js",
        "/static/swagger-ui": "/static/swagger-ui/swagger-ui-bundle.js",
    },
}
# load balancers and browsers ask for these before anyone signs in; on purpose, the documents of
# the HTTP API and of the messaging, and the documentation page with Swagger UI's files (they
# describe the code, no one's data); on purpose, the web pages
# (the operations page too: it holds no figures, it signs in and asks /api/v1/ops with an
# operator's credentials) and how they sign in (the mode and the issuer's public endpoints,
# nothing secret); and, on purpose, a tenant's secret calendar feed URL, for calendar apps, which
# cannot send credentials: its secret stands for them, and a secret that is no tenant's current
# one answers 404
SECRET_FEED = "/api/v1/feeds/{secret}/calendar.ics"
AUTH_CONFIG = "/api/v1/auth/config"
PUBLIC = frozenset(
    {
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/openapi.json",
        "/api/asyncapi.json",
        "/api/docs",
        "/",
        "/ops",
        "/static",
        "/static/swagger-ui",
        AUTH_CONFIG,
        SECRET_FEED,
    }
)
# every tenant's figures: for operators only
DEAD_LETTERS = "/api/v1/ops/dead-letters"
FOR_OPERATORS = frozenset(
    {
        "/api/v1/ops",
        JOBS_OVERVIEW_PATH,
        DEAD_LETTERS,
        f"{DEAD_LETTERS}/message",
        f"{DEAD_LETTERS}/redrives",
        f"{DEAD_LETTERS}/discards",
    }
)

# what an operator's request is answered on the dead letters routes the table cannot fill with a
# real message (its stack has none): let through, told no message was named (400) or that none
# of the selection is there (404); every other operator route answers 200
OPERATOR_ANSWERS: Mapping[tuple[str, str], int] = {
    ("GET", f"{DEAD_LETTERS}/message"): 400,
    ("POST", f"{DEAD_LETTERS}/redrives"): 404,
    ("POST", f"{DEAD_LETTERS}/discards"): 404,
}


@dataclass(frozen=True)
class RouteCase:
    """One operation of one service: the path it is asked at, {parameters} left to fill."""

    service: str
    method: str
    path: str
    # the route's path, as the access rules name it
    canonical: str
    operation: Mapping[str, Any] = field(compare=False)

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def needs_body(self) -> bool:
        return "requestBody" in self.operation

    @property
    def is_public(self) -> bool:
        return self.canonical in PUBLIC

    @property
    def for_operators(self) -> bool:
        return self.canonical in FOR_OPERATORS


def documented(service: str) -> list[RouteCase]:
    document = openapi_document(service, "-", DOCUMENTED[service])
    return [
        RouteCase(service, method.upper(), path, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def beside(service: str) -> list[RouteCase]:
    served = BESIDE_THE_DOCUMENT.get(service, {})
    return [RouteCase(service, "GET", url, canonical, {}) for canonical, url in served.items()]


ROUTES = [case for service in DOCUMENTED for case in (*documented(service), *beside(service))]
PUBLIC_ROUTES = [case for case in ROUTES if case.is_public]
# public routes whose path holds a secret that stands for credentials
PUBLIC_WITH_SECRETS = [case for case in PUBLIC_ROUTES if case.parameters]
GUARDED = [case for case in ROUTES if not case.is_public]
OPERATOR_ROUTES = [case for case in GUARDED if case.for_operators]
MEMBER_ROUTES = [case for case in GUARDED if not case.for_operators]
# the tenant's own settings and figures, which list no items of anyone's: the calendar feed
# URL's state, the count of the tenant's calendar jobs in flight (the job tracker's)
SETTINGS = frozenset({"/api/v1/todos/calendar-feed", "/api/v1/todos/ical/in-flight"})
# a todo or a job named in the path
BY_ID = [case for case in MEMBER_ROUTES if case.parameters]
# the lists, the history and the feed
READS = [
    case
    for case in MEMBER_ROUTES
    if not case.parameters and case.method == "GET" and case.canonical not in SETTINGS
]
# the writes, and the reads of the tenant's settings: answered with no item of another tenant's
WRITES = [case for case in MEMBER_ROUTES if not case.parameters and case not in READS]
