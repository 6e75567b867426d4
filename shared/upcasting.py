"""Upcasters: stored events of an older schema version become the current shape on load.

An upcaster takes the raw envelope (a JSON object) of one event type at one schema version and
returns it at the next version; `upcast` chains them until the current version. Old logs then
replay under new code without rewriting them.

Version 1 is the first and current envelope schema, so the registry starts empty: there is no
older shape to convert yet. A change to an event's shape bumps CURRENT_SCHEMA_VERSION
(shared/envelope.py) and registers here the function from the previous version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RawEnvelope = dict[str, Any]
Upcaster = Callable[[RawEnvelope], RawEnvelope]


class UpcasterRegistry:
    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def __bool__(self) -> bool:
        return bool(self._steps)

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
