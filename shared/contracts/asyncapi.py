"""The AsyncAPI 3.0 document of the messaging: the topic, the queues with their subscription
filter policies and dead-letter queues, and every event with its JSON Schema, generated from the
topology and the event catalogue, which stay the only definitions of them."""

from __future__ import annotations

import json
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.contracts.envelope import Envelope
from shared.contracts.events import AnyEvent
from shared.contracts.topology import (
    DLQ_RETENTION_S,
    QUEUE_RETENTION_S,
    QUEUES,
    ROUTED_TYPES,
    TOPIC,
    QueueSpec,
)

ASYNCAPI_VERSION = "3.0.0"
# the version of the messaging's contract, as the OpenAPI document's is of the HTTP API's
DOCUMENT_VERSION = "1.0.0"
SCHEMA_REF = "#/components/schemas/{model}"
MESSAGE_REF = "#/components/messages/{name}"
TOPIC_CHANNEL = "topic"
PUBLISH_OPERATION = "publishEvents"
SNS_BINDING_VERSION = "0.1.0"
SQS_BINDING_VERSION = "0.2.0"
# every event class of the catalogue, in its order: the members of the discriminated union
EVENT_CLASSES: tuple[type[BaseModel], ...] = get_args(get_args(AnyEvent)[0])


def asyncapi_document() -> dict[str, Any]:
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "TaskOverflow Events messaging",
            "version": DOCUMENT_VERSION,
            "description": (
                "Every event travels in an envelope (the payload of each message); the SNS "
                "message attribute `type` names the event, and each queue's subscription "
                "filters on it, with raw message delivery. Events no queue receives are only "
                "stored in their service's log, never published."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {
            TOPIC_CHANNEL: _topic_channel(),
            **{spec.name: _queue_channel(spec) for spec in QUEUES},
        },
        "operations": {
            PUBLISH_OPERATION: _publish_operation(),
            **{_receive_operation_id(spec): _receive_operation(spec) for spec in QUEUES},
        },
        "components": {
            "schemas": _schemas(),
            "messages": {cls.__name__: _message(cls) for cls in EVENT_CLASSES},
        },
    }


def _routed_in_catalogue_order() -> list[str]:
    return [cls.__name__ for cls in EVENT_CLASSES if cls.__name__ in ROUTED_TYPES]


def _message_refs(names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {name: {"$ref": MESSAGE_REF.format(name=name)} for name in names}


def _channel_message_refs(channel: str, names: list[str] | tuple[str, ...]) -> list[Any]:
    return [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names]


def _topic_channel() -> dict[str, Any]:
    return {
        "address": TOPIC,
        "title": "The SNS topic every service publishes to",
        "description": "Each service's relay publishes the events some queue receives from its "
        "outbox; a deployment's prefix goes before the name.",
        "messages": _message_refs(_routed_in_catalogue_order()),
        "bindings": {"sns": {"name": TOPIC, "bindingVersion": SNS_BINDING_VERSION}},
    }


def _queue_channel(spec: QueueSpec) -> dict[str, Any]:
    return {
        "address": spec.name,
        "title": f"The SQS queue {spec.name}",
        "description": f"Subscribed to {TOPIC} with the filter policy {spec.filter_policy()}. "
        f"A message received too often (SQS_MAX_RECEIVE_COUNT) goes to {spec.dlq_name}.",
        "messages": _message_refs(spec.event_types),
        "bindings": {
            "sqs": {
                "queue": {
                    "name": spec.name,
                    "fifoQueue": False,
                    "messageRetentionPeriod": QUEUE_RETENTION_S,
                    "redrivePolicy": {"deadLetterQueue": {"name": spec.dlq_name}},
                },
                "deadLetterQueue": {
                    "name": spec.dlq_name,
                    "fifoQueue": False,
                    "messageRetentionPeriod": DLQ_RETENTION_S,
                },
                "bindingVersion": SQS_BINDING_VERSION,
            }
        },
    }


def _publish_operation() -> dict[str, Any]:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{TOPIC_CHANNEL}"},
        "summary": "A relay publishes an outbox's events, the attribute `type` set to each's",
        "messages": _channel_message_refs(TOPIC_CHANNEL, _routed_in_catalogue_order()),
        "bindings": {
            "sns": {
                "consumers": [_subscription(spec) for spec in QUEUES],
                "bindingVersion": SNS_BINDING_VERSION,
            }
        },
    }


def _subscription(spec: QueueSpec) -> dict[str, Any]:
    return {
        "protocol": "sqs",
        "endpoint": {"name": spec.name},
        "filterPolicy": json.loads(spec.filter_policy()),
        "filterPolicyScope": "MessageAttributes",
        "rawMessageDelivery": True,
    }


def _receive_operation_id(spec: QueueSpec) -> str:
    return "receive-" + spec.name


def _receive_operation(spec: QueueSpec) -> dict[str, Any]:
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{spec.name}"},
        "summary": f"The consumer of {spec.name} handles each event once (its inbox)",
        "messages": _channel_message_refs(spec.name, spec.event_types),
    }


def _message(cls: type[BaseModel]) -> dict[str, Any]:
    name = cls.__name__
    published = name in ROUTED_TYPES
    return {
        "name": name,
        "title": name,
        "summary": _first_line(cls.__doc__) or name,
        "description": "Published to the topic."
        if published
        else "Stored in its service's event log; no queue receives it.",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "description": "The SNS message attribute each subscription filters on",
            "properties": {"type": {"type": "string", "const": name}},
            "required": ["type"],
        },
        # on the wire an event is the `data` of its envelope, whose `type` names it
        "payload": {
            "allOf": [
                {"$ref": SCHEMA_REF.format(model=Envelope.__name__)},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": name},
                        "data": {"$ref": SCHEMA_REF.format(model=name)},
                    },
                },
            ]
        },
    }


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n", 1)[0].replace("\n", " ")


def _schemas() -> dict[str, Any]:
    """The envelope and every event as written on the wire, in AsyncAPI's schema dialect."""
    models = [(model, "serialization") for model in (Envelope, *EVENT_CLASSES)]
    _, schemas = models_json_schema(models, ref_template=SCHEMA_REF)  # type: ignore[arg-type]
    converted: dict[str, Any] = _asyncapi_schema(schemas.get("$defs", {}))
    return converted


def _asyncapi_schema(node: Any) -> Any:
    """pydantic writes OpenAPI's discriminator object; AsyncAPI's discriminator is the name of
    the property alone."""
    if isinstance(node, dict):
        converted = {key: _asyncapi_schema(value) for key, value in node.items()}
        discriminator = node.get("discriminator")
        if isinstance(discriminator, dict):
            converted["discriminator"] = discriminator["propertyName"]
        return converted
    if isinstance(node, list):
        return [_asyncapi_schema(value) for value in node]
    return node
