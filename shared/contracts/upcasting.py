"""Upcasters: stored events of an older schema version become the current shape on load.

An upcaster takes the raw envelope (a JSON object) of one event type at one schema version and
returns it at the next version; `upcast` chains them until the current version. Old logs then
replay under new code without rewriting them.

A change to an event's shape or meaning bumps CURRENT_SCHEMA_VERSION
(shared/contracts/envelope.py) and registers here the function from the previous version.

Version 2: a client's CalendarCancelled no longer ends its job; the calendar worker decides, and
records CalendarRevoked when the cancel wins. Under version 1 the cancel itself ended the job, and
clients were told REVOKED: a version-1 CalendarCancelled is read as the CalendarRevoked it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RawEnvelope = dict[str, Any]
Upcaster = Callable[[RawEnvelope], RawEnvelope]


class UpcasterRegistry:
    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def may_apply(self, text: str | bytes) -> bool:
        """Whether a step may apply to this envelope's JSON: it names a type that has one. A cheap
        test, so that the other events skip the extra parse an upcast needs."""
        body = text if isinstance(text, str) else text.decode("utf-8", "replace")
        return any(event_type in body for event_type, _ in self._steps)

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorate the function that turns `event_type` at `from_version` into the next one."""

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
        """Apply the registered steps until the event is at `current_version`."""
        version = int(raw.get("schema_version", current_version))
        while version < current_version:
            step = self._steps.get((str(raw.get("type")), version))
            if step is None:
                # nothing to convert: validation against the current models decides
                return raw
            version += 1
            raw = {**step(dict(raw)), "schema_version": version}
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
