"""Upcasters: stored events of an older schema version become the current shape on load.

An upcaster takes the raw envelope (a JSON object) of one event type at one schema version and
returns it at the next version; `upcast` chains them until the current version. Old logs then
replay under new code without rewriting them.

A change to an event's shape or meaning bumps CURRENT_SCHEMA_VERSION
(shared/contracts/envelope.py) and registers here the function from the previous version.

Version 2: a client's CalendarCancelled no longer ends its job; the calendar worker decides, and
records CalendarRevoked when the cancel wins. Under version 1 the cancel itself ended the job, and
clients were told REVOKED: a version-1 CalendarCancelled is read as the CalendarRevoked it was.

Version 3: every envelope names its tenant and actor (shared/contracts/tenancy.py). Events stored
before were all the anonymous tenant's, as AUTH_MODE=none still makes them: a client's request
was anonymous, and what the calendar worker recorded of a job, the worker's own doing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.contracts.streams import PROGRESS_PREFIX, RENDER_PREFIX
from shared.contracts.tenancy import ANONYMOUS_ACTOR, ANONYMOUS_TENANT, service_actor

RawEnvelope = dict[str, Any]
Upcaster = Callable[[RawEnvelope], RawEnvelope]
# registered under this type, a step applies to every event type at its version
EVERY_TYPE = "*"


class UpcasterRegistry:
    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorate the function that turns `event_type` (EVERY_TYPE: any) at `from_version` into
        the next one."""

        def add(step: Upcaster) -> Upcaster:
            key = (event_type, from_version)
            if key in self._steps:
                raise ValueError(f"an upcaster for {event_type} v{from_version} exists already")
            self._steps[key] = step
            return step

        return add

    def unregister(self, event_type: str, from_version: int) -> None:
        self._steps.pop((event_type, from_version), None)

    def upcast(self, raw: RawEnvelope, current_version: int) -> RawEnvelope:
        """Apply the registered steps until the event is at `current_version`: its type's own step
        at each version, else the step for every type, else none (its shape did not change)."""
        version = raw.get("schema_version", current_version)
        if not isinstance(version, int):
            # not an envelope of ours: validation against the current models says what is wrong
            return raw
        while version < current_version:
            step = self._steps.get((str(raw.get("type")), version)) or self._steps.get(
                (EVERY_TYPE, version)
            )
            if step is not None:
                raw = step(dict(raw))
            version += 1
            raw = {**raw, "schema_version": version}
        return raw


UPCASTERS = UpcasterRegistry()


@UPCASTERS.register("CalendarCancelled", 1)
def cancel_that_ended_the_job(raw: RawEnvelope) -> RawEnvelope:
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    revoked = {"type": "CalendarRevoked", "task_id": data.get("task_id")}
    revoked["revoked_at"] = data.get("cancelled_at")
    return {**raw, "type": "CalendarRevoked", "data": revoked}


# the streams the calendar worker writes; every other stream before version 3 was written for a
# request, and so by its anonymous client
_WORKER_STREAMS = (RENDER_PREFIX, PROGRESS_PREFIX)


@UPCASTERS.register(EVERY_TYPE, 2)
def before_tenants(raw: RawEnvelope) -> RawEnvelope:
    worker = str(raw.get("stream_id", "")).startswith(_WORKER_STREAMS)
    actor = service_actor("calendar_worker") if worker else ANONYMOUS_ACTOR
    return {"tenant": ANONYMOUS_TENANT, "actor": actor, **raw}
