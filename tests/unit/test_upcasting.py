"""Upcasters turn events stored in an older schema version into the current shape on load.

The mechanism is shown on a hypothetical version 0 of TodoCreated, whose todo named its title
`name` (registered and unregistered around the tests that use it), and on the two real changes:
a version-1 CalendarCancelled, which ended its job, is read as a CalendarRevoked; and an event
from before version 3 is read as the anonymous tenant's, done by its client or by the worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from shared.contracts.envelope import CURRENT_SCHEMA_VERSION, Envelope, wrap
from shared.contracts.events import (
    AnyEvent,
    CalendarCancelled,
    CalendarRevoked,
    CalendarStarted,
    TodoCreated,
)
from shared.contracts.streams import calendar_stream_id, progress_stream_id, render_stream_id
from shared.contracts.tenancy import ANONYMOUS_ACTOR, ANONYMOUS_TENANT, Origin
from shared.contracts.upcasting import EVERY_TYPE, UPCASTERS, UpcasterRegistry
from tests.support.factories import calendar_requested

# a TodoCreated exactly as todo_api stored it at schema version 1
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
    def test_a_version_1_event_loads_under_the_current_code_as_the_anonymous_tenants(
        self,
    ) -> None:
        envelope = Envelope.from_json(VERSION_1)

        assert envelope.schema_version == CURRENT_SCHEMA_VERSION
        assert isinstance(envelope.data, TodoCreated)
        assert envelope.data.todo.title == "Project Proposal"
        assert (envelope.tenant, envelope.actor) == ("anonymous", "anonymous")
        upcast = {**json.loads(VERSION_1), "schema_version": 3}
        assert json.loads(envelope.to_json()) == {
            **upcast,
            "tenant": "anonymous",
            "actor": "anonymous",
        }

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

        # a type with no step at a version kept its shape: it moves on unchanged
        assert registry.upcast({"type": "Other", "schema_version": 1}, 2) == {
            "type": "Other",
            "schema_version": 2,
        }
        assert registry.upcast({"type": "Thing", "schema_version": 2}, 2) == {
            "type": "Thing",
            "schema_version": 2,
        }

    def test_a_step_for_every_type_applies_where_a_type_has_none_of_its_own(self) -> None:
        registry = UpcasterRegistry()
        registry.register("Thing", 1)(lambda raw: {**raw, "own": True})
        registry.register(EVERY_TYPE, 1)(lambda raw: {**raw, "every": True})

        assert registry.upcast({"type": "Thing", "schema_version": 1}, 2) == {
            "type": "Thing",
            "schema_version": 2,
            "own": True,
        }
        assert registry.upcast({"type": "Other", "schema_version": 1}, 2)["every"] is True

    def test_a_version_that_is_not_a_number_is_left_to_validation(self) -> None:
        registry = UpcasterRegistry()
        registry.register(EVERY_TYPE, 1)(lambda raw: {**raw, "every": True})

        assert registry.upcast({"type": "Thing", "schema_version": "1"}, 2) == {
            "type": "Thing",
            "schema_version": "1",
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
        raw = {**raw, "type": "CalendarCancelled", "schema_version": schema_version, "data": data}
        if schema_version >= 3:
            raw = {**raw, "tenant": "acme", "actor": "api-key:abcdefgh"}
        return json.dumps(raw)

    def test_a_version_1_cancel_is_read_as_the_revocation_it_was(self) -> None:
        envelope = Envelope.from_json(self.cancel(1))

        assert isinstance(envelope.data, CalendarRevoked)
        assert (envelope.type, envelope.schema_version) == ("CalendarRevoked", 3)
        assert envelope.data.revoked_at.isoformat() == "2024-04-17T14:00:00"
        assert str(envelope.data.task_id) == "6c5e0b1e-4a43-8c1a-9a55-2c4b8f0e7d11"

    def test_a_current_cancel_stays_a_cancel(self) -> None:
        envelope = Envelope.from_json(self.cancel(CURRENT_SCHEMA_VERSION))

        assert isinstance(envelope.data, CalendarCancelled)
        assert envelope.schema_version == CURRENT_SCHEMA_VERSION == 3
        assert (envelope.tenant, envelope.actor) == ("acme", "api-key:abcdefgh")


def at_version_2(event: AnyEvent, stream_id: str) -> str:
    """An envelope as it was stored before events named a tenant."""
    raw = json.loads(wrap(event, stream_id=stream_id, stream_version=1, origin=ACME).to_json())
    del raw["tenant"], raw["actor"]
    return json.dumps({**raw, "schema_version": 2})


ACME = Origin(tenant="acme", actor="oidc:alice")


class TestVersion3:
    def test_a_clients_event_is_read_as_the_anonymous_tenants_done_by_its_anonymous_client(
        self,
    ) -> None:
        requested = calendar_requested()
        envelope = Envelope.from_json(
            at_version_2(requested, calendar_stream_id(requested.task_id))
        )

        assert (envelope.tenant, envelope.actor) == (ANONYMOUS_TENANT, ANONYMOUS_ACTOR)
        assert envelope.data == requested

    @pytest.mark.parametrize("stream", [render_stream_id, progress_stream_id])
    def test_what_the_worker_recorded_is_read_as_the_workers_doing(
        self, stream: Callable[[UUID], str]
    ) -> None:
        started = CalendarStarted(task_id=uuid4(), attempt=1)
        envelope = Envelope.from_json(at_version_2(started, stream(started.task_id)))

        assert (envelope.tenant, envelope.actor) == (ANONYMOUS_TENANT, "service:calendar_worker")

    def test_a_current_event_keeps_its_tenant_and_actor_through_json(self) -> None:
        started = CalendarStarted(task_id=uuid4(), attempt=1)
        envelope = wrap(started, stream_id="render-x", stream_version=1, origin=ACME)

        loaded = Envelope.from_json(envelope.to_json())
        assert loaded == envelope
        assert Envelope.from_json(envelope.to_json().encode()) == envelope
        assert (loaded.tenant, loaded.actor) == ("acme", "oidc:alice")

    def test_a_current_event_without_a_tenant_is_refused(self) -> None:
        started = CalendarStarted(task_id=uuid4(), attempt=1)
        raw = json.loads(
            wrap(started, stream_id="render-x", stream_version=1, origin=ACME).to_json()
        )
        del raw["tenant"]

        with pytest.raises(ValueError, match="tenant"):
            Envelope.from_json(json.dumps(raw))
