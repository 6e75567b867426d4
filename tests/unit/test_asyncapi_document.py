"""The AsyncAPI document of the messaging: valid against the official AsyncAPI 3.0.0 JSON Schema,
and holding every event of the catalogue and every queue of the topology, each expected set
found here on its own (not from the generator), so an event or a queue added without appearing
in the document fails."""

from __future__ import annotations

import copy
import inspect
import json
from datetime import UTC, datetime
from typing import Any, Literal, get_origin
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from pydantic import BaseModel

from scripts.asyncapi import problems, specification_schema
from shared.contracts import events
from shared.contracts.asyncapi import PUBLISH_OPERATION, TOPIC_CHANNEL, asyncapi_document
from shared.contracts.envelope import Envelope
from shared.contracts.topology import QUEUES, ROUTED_TYPES, TOPIC

DOCUMENT = asyncapi_document()


def catalogued_events() -> dict[str, type[BaseModel]]:
    """Every fact of the catalogue module that names its own type: an event."""
    return {
        cls.__name__: cls
        for _, cls in inspect.getmembers(events, inspect.isclass)
        if issubclass(cls, events.Fact)
        and "type" in cls.model_fields
        and get_origin(cls.model_fields["type"].annotation) is Literal
    }


def refs(items: list[dict[str, str]] | dict[str, dict[str, str]]) -> set[str]:
    listed = items.values() if isinstance(items, dict) else items
    return {item["$ref"] for item in listed}


class TestValidity:
    def test_the_specification_schema_finds_no_fault(self) -> None:
        assert problems(DOCUMENT, specification_schema()) == []

    @pytest.mark.parametrize(
        ("where", "value"),
        [
            (("operations", PUBLISH_OPERATION, "action"), "publish"),
            (("channels", TOPIC_CHANNEL, "messages", "CalendarReady", "$ref"), "#/nowhere"),
            (("components", "schemas", "Envelope", "properties", "data", "discriminator"), {}),
        ],
    )
    def test_a_broken_document_is_refused(self, where: tuple[str, ...], value: Any) -> None:
        broken = copy.deepcopy(DOCUMENT)
        node = broken
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value

        assert problems(broken, specification_schema()) != []


class TestEvents:
    def test_the_catalogue_is_found(self) -> None:
        assert {"TodoCreated", "CalendarRequested", "ApiKeyRevoked"} <= set(catalogued_events())

    def test_every_event_has_a_message_and_its_schema(self) -> None:
        components = DOCUMENT["components"]

        assert set(components["messages"]) == set(catalogued_events())
        assert set(catalogued_events()) <= set(components["schemas"])

    @pytest.mark.parametrize("name", sorted(catalogued_events()))
    def test_each_schema_is_the_model_s(self, name: str) -> None:
        schema = DOCUMENT["components"]["schemas"][name]
        fields = catalogued_events()[name].model_fields

        assert set(schema["properties"]) == set(fields)
        assert schema["properties"]["type"]["const"] == name

    def test_the_topic_carries_exactly_the_routed_events(self) -> None:
        topic = DOCUMENT["channels"][TOPIC_CHANNEL]

        assert topic["address"] == TOPIC
        assert set(topic["messages"]) == ROUTED_TYPES
        assert refs(DOCUMENT["operations"][PUBLISH_OPERATION]["messages"]) == {
            f"#/channels/{TOPIC_CHANNEL}/messages/{name}" for name in ROUTED_TYPES
        }


class TestQueues:
    @pytest.mark.parametrize("spec", QUEUES, ids=lambda spec: spec.name)
    def test_each_queue_is_a_channel_with_its_events_and_dead_letter_queue(self, spec: Any) -> None:
        channel = DOCUMENT["channels"][spec.name]
        sqs = channel["bindings"]["sqs"]

        assert channel["address"] == spec.name
        assert set(channel["messages"]) == set(spec.event_types)
        assert sqs["queue"]["name"] == spec.name
        assert sqs["queue"]["redrivePolicy"]["deadLetterQueue"]["name"] == spec.dlq_name
        assert sqs["deadLetterQueue"]["name"] == spec.dlq_name

    def test_every_subscription_is_there_with_its_filter_policy(self) -> None:
        consumers = DOCUMENT["operations"][PUBLISH_OPERATION]["bindings"]["sns"]["consumers"]

        assert {
            consumer["endpoint"]["name"]: consumer["filterPolicy"] for consumer in consumers
        } == {spec.name: json.loads(spec.filter_policy()) for spec in QUEUES}
        assert all(consumer["rawMessageDelivery"] is True for consumer in consumers)

    @pytest.mark.parametrize("spec", QUEUES, ids=lambda spec: spec.name)
    def test_each_queue_s_consumer_receives_its_events(self, spec: Any) -> None:
        receiving = [
            operation
            for operation in DOCUMENT["operations"].values()
            if operation["action"] == "receive"
            and operation["channel"]["$ref"] == f"#/channels/{spec.name}"
        ]

        assert len(receiving) == 1
        assert refs(receiving[0]["messages"]) == {
            f"#/channels/{spec.name}/messages/{name}" for name in spec.event_types
        }


def payload_validator(name: str) -> Draft7Validator:
    """The message's payload schema, its references resolved in the document."""
    return Draft7Validator(
        {"$ref": f"#/components/messages/{name}/payload", "components": DOCUMENT["components"]}
    )


def on_the_wire(event: BaseModel) -> Any:
    envelope = Envelope(
        event_id=uuid4(),
        type=event.type,  # type: ignore[attr-defined]
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
        stream_id="stream-1",
        stream_version=1,
        tenant="tenant",
        actor="anonymous",
        data=event,
    )
    return json.loads(envelope.to_json())


@given(
    st.sampled_from(sorted(catalogued_events())).flatmap(
        lambda name: st.builds(catalogued_events()[name])
    )
)
def test_an_event_on_the_wire_matches_its_message_and_no_other(event: BaseModel) -> None:
    wire = on_the_wire(event)
    own = type(event).__name__

    assert list(payload_validator(own).iter_errors(wire)) == []
    others = [name for name in catalogued_events() if name != own]
    assert all(not payload_validator(name).is_valid(wire) for name in others)
