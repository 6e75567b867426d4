"""Upcasters turn events stored in an older schema version into the current shape on load.

The mechanism is shown on a hypothetical version 0 of TodoCreated, whose todo named its title
`name` (registered and unregistered around the tests that use it), and on the one real change:
a version-1 CalendarCancelled, which ended its job, is read as a CalendarRevoked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared.contracts.envelope import CURRENT_SCHEMA_VERSION, Envelope
from shared.contracts.events import CalendarCancelled, CalendarRevoked, TodoCreated
from shared.contracts.upcasting import UPCASTERS, UpcasterRegistry

# a TodoCreated exactly as todo_api stores it today (schema version 1)
VERSION_1 = json.dumps(
    {
        "event_id": "0b6f3c1e-4a43-4c1a-9a55-2c4b8f0e7d11",
        "type": "TodoCreated",
        "schema_version": 1,
        "occurred_at": "2024-04-17T14:00:00",
        "stream_id": "todo-1",
        "stream_version": 1,
        "correlation_id": None,
        "causation_id": None,
        "data": {
            "type": "TodoCreated",
            "todo": {
                "id": 1,
                "title": "Project Proposal",
                "description": "CSSE6400 Project Proposal Due",
                "completed": False,
                "deadline_at": "2023-04-03T14:00:00",
                "created_at": "2024-04-17T14:00:00",
                "updated_at": "2024-04-17T14:00:00",
            },
        },
    }
)


def hypothetical_version_0() -> str:
    raw = json.loads(VERSION_1)
    raw["schema_version"] = 0
    raw["data"]["todo"]["name"] = raw["data"]["todo"].pop("title")
    return json.dumps(raw)


def rename_name_to_title(raw: dict[str, Any]) -> dict[str, Any]:
    todo = dict(raw["data"]["todo"])
    todo["title"] = todo.pop("name")
    return {**raw, "data": {**raw["data"], "todo": todo}}


@pytest.fixture
def version_0_upcaster() -> Iterator[None]:
    UPCASTERS.register("TodoCreated", 0)(rename_name_to_title)
    yield
    UPCASTERS.unregister("TodoCreated", 0)


class TestEnvelopeLoading:
    def test_a_version_1_event_loads_unchanged_under_the_current_code(self) -> None:
        envelope = Envelope.from_json(VERSION_1)

        assert envelope.schema_version == 1
        assert isinstance(envelope.data, TodoCreated)
        assert envelope.data.todo.title == "Project Proposal"
        assert json.loads(envelope.to_json()) == json.loads(VERSION_1)

    @pytest.mark.usefixtures("version_0_upcaster")
    def test_an_older_event_is_upcast_to_the_current_shape_when_loaded(self) -> None:
        envelope = Envelope.from_json(hypothetical_version_0())

        assert envelope == Envelope.from_json(VERSION_1)

    @pytest.mark.usefixtures("version_0_upcaster")
    def test_current_events_and_bad_json_behave_as_without_upcasters(self) -> None:
        assert Envelope.from_json(VERSION_1).data.type == "TodoCreated"
        with pytest.raises(ValueError, match="JSON"):
            Envelope.from_json("not json")

    def test_without_the_upcaster_the_older_shape_is_refused(self) -> None:
        with pytest.raises(ValueError, match="title"):
            Envelope.from_json(hypothetical_version_0())


class TestRegistry:
    def test_steps_chain_until_the_current_version(self) -> None:
        registry = UpcasterRegistry()
        registry.register("Thing", 1)(lambda raw: {**raw, "two": True})
        registry.register("Thing", 2)(lambda raw: {**raw, "three": True})

        found = registry.upcast({"type": "Thing", "schema_version": 1}, current_version=3)

        assert found == {"type": "Thing", "schema_version": 3, "two": True, "three": True}

    def test_other_types_and_current_versions_pass_through(self) -> None:
        registry = UpcasterRegistry()
        registry.register("Thing", 1)(lambda raw: {**raw, "two": True})

        assert registry.upcast({"type": "Other", "schema_version": 1}, 2)["schema_version"] == 1
        assert registry.upcast({"type": "Thing", "schema_version": 2}, 2) == {
            "type": "Thing",
            "schema_version": 2,
        }

    def test_registering_a_step_twice_is_refused(self) -> None:
        registry = UpcasterRegistry()
        registry.register("Thing", 1)(lambda raw: raw)

        with pytest.raises(ValueError, match="exists already"):
            registry.register("Thing", 1)(lambda raw: raw)


class TestVersion2:
    def cancel(self, schema_version: int) -> str:
        raw = json.loads(VERSION_1)
        task_id = "6c5e0b1e-4a43-8c1a-9a55-2c4b8f0e7d11"
        data = {
            "type": "CalendarCancelled",
            "task_id": task_id,
            "cancelled_at": "2024-04-17T14:00:00",
        }
        return json.dumps(
            {**raw, "type": "CalendarCancelled", "schema_version": schema_version, "data": data}
        )

    def test_a_version_1_cancel_is_read_as_the_revocation_it_was(self) -> None:
        envelope = Envelope.from_json(self.cancel(1))

        assert isinstance(envelope.data, CalendarRevoked)
        assert (envelope.type, envelope.schema_version) == ("CalendarRevoked", 2)
        assert envelope.data.revoked_at.isoformat() == "2024-04-17T14:00:00"
        assert str(envelope.data.task_id) == "6c5e0b1e-4a43-8c1a-9a55-2c4b8f0e7d11"

    def test_a_current_cancel_stays_a_cancel(self) -> None:
        envelope = Envelope.from_json(self.cancel(CURRENT_SCHEMA_VERSION))

        assert isinstance(envelope.data, CalendarCancelled)
        assert envelope.schema_version == CURRENT_SCHEMA_VERSION == 2
