"""Responses shaped like aiobotocore's SQS answers, and the request values they validate."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from embedded.transport import names
from embedded.transport.errors import client_error
from embedded.transport.messages import Received
from embedded.transport.queues import Depth, QueueRow

MAX_VISIBILITY_TIMEOUT_S = 43200
# the attributes SetQueueAttributes may change here: SQS's name -> (column, SQS's range)
SETTABLE_ATTRIBUTES = {
    "VisibilityTimeout": ("visibility_timeout_s", 0, MAX_VISIBILITY_TIMEOUT_S),
    "MessageRetentionPeriod": ("retention_s", 60, 14 * 24 * 3600),
}


def bounded(operation: str, parameter: str, value: Any, low: int, high: int) -> int:
    """An integer parameter within SQS's range, else the InvalidParameterValue SQS answers."""
    if not isinstance(value, int) or not low <= value <= high:
        message = f"Value {value} for parameter {parameter} is invalid: must be {low} to {high}."
        raise client_error(operation, "InvalidParameterValue", message)
    return value


def queue_settings(operation: str, attributes: dict[str, Any]) -> dict[str, int]:
    """Queue columns from SetQueueAttributes' attributes, refused as SQS refuses them."""
    settings = {}
    for name, value in attributes.items():
        if name not in SETTABLE_ATTRIBUTES:
            message = f"Unknown Attribute {name} (or one the embedded transport does not set)."
            raise client_error(operation, "InvalidAttributeName", message)
        column, low, high = SETTABLE_ATTRIBUTES[name]
        text = str(value)
        if not text.isdigit() or not low <= int(text) <= high:
            message = f"Invalid value for the parameter {name}."
            raise client_error(operation, "InvalidAttributeValue", message)
        settings[column] = int(text)
    return settings


def message(received: Received, request: dict[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "MessageId": received.message_id,
        "ReceiptHandle": received.receipt_handle,
        "MD5OfBody": hashlib.md5(received.body.encode(), usedforsecurity=False).hexdigest(),
        "Body": received.body,
    }
    system = _system_attributes(received, request)
    if system:
        shaped["Attributes"] = system
    wanted = request.get("MessageAttributeNames", [])
    chosen = {
        name: value
        for name, value in received.attributes.items()
        if "All" in wanted or ".*" in wanted or name in wanted
    }
    if chosen:
        shaped["MessageAttributes"] = chosen
    return shaped


def _system_attributes(received: Received, request: dict[str, Any]) -> dict[str, str]:
    wanted = set(request.get("MessageSystemAttributeNames", [])) | set(
        request.get("AttributeNames", [])
    )
    known = {
        "ApproximateReceiveCount": str(received.receive_count),
        "SentTimestamp": str(received.sent_at_ms),
    }
    return {name: value for name, value in known.items() if "All" in wanted or name in wanted}


def queue_attributes(
    region: str, queue: QueueRow, depth: Depth, wanted: list[str]
) -> dict[str, str]:
    known = {
        "QueueArn": names.queue_arn(region, queue.name),
        "VisibilityTimeout": str(queue.visibility_timeout_s),
        "MessageRetentionPeriod": str(queue.retention_s),
        "ApproximateNumberOfMessages": str(depth.visible),
        "ApproximateNumberOfMessagesNotVisible": str(depth.in_flight),
        "ApproximateNumberOfMessagesDelayed": str(depth.delayed),
    }
    if queue.dead_letter_queue is not None:
        policy = {
            "deadLetterTargetArn": names.queue_arn(region, queue.dead_letter_queue),
            "maxReceiveCount": queue.max_receive_count,
        }
        known["RedrivePolicy"] = json.dumps(policy)
    return {name: value for name, value in known.items() if "All" in wanted or name in wanted}
