"""The cap on each tenant's calendar jobs in flight: `POST /api/v1/todos/ical` answers 429 JSON
(`Retry-After`, and the RateLimit fields of rate_limits.py with the limit "jobs" counted in
concurrent requests) while the principal's tenant has CALENDAR_JOBS_IN_FLIGHT_PER_TENANT jobs not
yet finished (PENDING, STARTED or RETRY). A refused request records nothing: no job, no use of
its Idempotency-Key; a retry of a key that already answered gets its job, cap or not.

The count is the job tracker's (the Tracker port's `in_flight`): only the tracker folds the
outcomes. What the cap promises follows from that:
- a request made once the tracker has seen the tenant's earlier requests is counted exactly, and
  a job's outcome or its revocation frees its slot as soon as the tracker records it;
- the tracker sees a request when its CalendarRequested arrives (the relay's poll, the broker,
  the tracker's consumer: well under a second while they run, unbounded while one is stopped).
  Requests of one tenant inside that window are each admitted on a count without the others, so
  the tenant can overshoot the cap by their number. The calendar rate limit (a token bucket per
  principal, rate_limits.py) is what bounds that window's requests.
- a tracker that cannot answer (not configured, down, silent, or not yet knowing a new key) makes
  the request answer 503 JSON: the cap fails closed, never a silent pass, since a tracker that
  cannot be asked is one that is not folding outcomes either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from services.todo_api.limit_fields import limit_fields, refused
from services.todo_api.tracker import Tracker
from shared.contracts.responses import Error
from shared.settings import CALENDAR_JOBS_IN_FLIGHT_DEFAULT, Settings
from shared.web.openapi import Route

LIMIT_NAME = "jobs"
# when to try again: a calendar job takes seconds, and when one ends is not known here
RETRY_AFTER_S = 5


class TooManyJobsError(Exception):
    """The tenant has the cap's number of jobs in flight already."""


def jobs_cap(settings: Settings) -> int:
    """The cap in force; 0: none."""
    cap = settings.calendar_jobs_in_flight_per_tenant
    if cap is None:
        return CALENDAR_JOBS_IN_FLIGHT_DEFAULT if settings.auth_mode == "required" else 0
    return cap


@dataclass
class Admission:
    """One calendar request's pass through the cap, asked just before its job is recorded."""

    cap: int
    tracker: Tracker
    request: web.Request
    in_flight: int | None = None

    async def admit(self) -> None:
        """TooManyJobsError when the tenant is at the cap; DependencyUnavailableError (503)
        when the tracker cannot tell."""
        if not self.cap:
            return
        self.in_flight = await self.tracker.in_flight(self.request)
        if self.in_flight >= self.cap:
            raise TooManyJobsError

    def fields(self) -> dict[str, str]:
        """The cap's RateLimit fields once the job is recorded (none: no cap, or not asked)."""
        if self.in_flight is None:
            return {}
        return cap_fields(self.cap, max(self.cap - self.in_flight - 1, 0))

    def refusal(self) -> web.Response:
        message = f"Too many calendar jobs in flight (at most {self.cap}); try again later"
        return refused(message, cap_fields(self.cap, 0), RETRY_AFTER_S)


def cap_fields(cap: int, left: int) -> dict[str, str]:
    # no reset time ("t"): when a job ends is not known
    return limit_fields(LIMIT_NAME, f'q={cap};qu="concurrent-requests"', f"r={left}")


def documented_cap(routes: Sequence[Route], settings: Settings) -> list[Route]:
    """The routes with 429 on the calendar request when a cap is in force."""
    if not jobs_cap(settings):
        return list(routes)
    return [
        dataclasses.replace(route, responses={**route.responses, 429: Error})
        if (route.method, route.path) == ("POST", "/api/v1/todos/ical")
        else route
        for route in routes
    ]
