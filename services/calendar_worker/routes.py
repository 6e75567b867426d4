"""The calendar worker's URL table: its health and readiness, for container checks (its metrics
are on their own listener)."""

from __future__ import annotations

from shared.app.readiness import NotReady, Readiness, queue_found, readiness, topic_found
from shared.contracts.responses import Health
from shared.contracts.topology import CALENDAR_WORKER
from shared.web.http import health
from shared.web.openapi import Route

ROUTES: list[Route] = [
    Route("GET", "/api/v1/health", health, "Is the service up", responses={200: Health}, head=True),
    Route(
        "GET",
        "/api/v1/ready",
        readiness(topic_found, queue_found(CALENDAR_WORKER)),
        "Can this instance work: do its database, topic and queue answer",
        responses={200: Readiness, 503: NotReady},
        head=True,
    ),
]
