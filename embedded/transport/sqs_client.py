"""An SQS client for the embedded transport: the aiobotocore calls this code makes, same shapes.

Arguments are keyword-only with AWS's names, as aiobotocore takes them.
"""

from __future__ import annotations

import time
from typing import Any

from embedded.transport import names, sqs_operations
from embedded.transport.batch_rules import SQS_CODE_PREFIX, check_batch
from embedded.transport.errors import (
    MESSAGE_NOT_INFLIGHT,
    client_error,
    invalid_receipt,
    not_in_flight,
)
from embedded.transport.messages import NewMessage, Receipt, VisibilityChange
from embedded.transport.sqs_shapes import (
    MAX_VISIBILITY_TIMEOUT_S,
    bounded,
    message,
    queue_attributes,
    queue_settings,
)
from embedded.transport.transport import Transport
from shared.messaging.batching import message_size

MAX_WAIT_TIME_S = 20
# how often a waiting receive looks at the file for what other processes wrote
CROSS_PROCESS_POLL_S = 0.15
INVALID_HANDLE = "ReceiptHandleIsInvalid"
# how often a receive deletes what retention has dropped from every queue (DLQs included)
EXPIRY_SWEEP_S = 60.0


class EmbeddedSqs:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._database = transport.database

    async def get_queue_url(self, **request: Any) -> dict[str, Any]:
        name = request["QueueName"]
        await self._database.run(sqs_operations.lookup, "GetQueueUrl", name)
        return {"QueueUrl": names.queue_url(name)}

    async def receive_message(self, **request: Any) -> dict[str, Any]:
        """Wait up to WaitTimeSeconds; a send from this process wakes the wait at once."""
        operation, name = "ReceiveMessage", names.queue_of_url(request["QueueUrl"])
        count = bounded(
            operation, "MaxNumberOfMessages", request.get("MaxNumberOfMessages", 1), 1, 10
        )
        wait_s = bounded(operation, "WaitTimeSeconds", request.get("WaitTimeSeconds", 0), 0, 20)
        hide_s = request.get("VisibilityTimeout")
        if hide_s is not None:
            bounded(operation, "VisibilityTimeout", hide_s, 0, MAX_VISIBILITY_TIMEOUT_S)
        deadline = time.monotonic() + wait_s
        wakeups = self._transport.wakeups
        await self._sweep_expired()
        while True:
            waiter = wakeups.register(name)
            try:
                received, dlq = await self._database.run(
                    sqs_operations.receive, name, count, hide_s
                )
                if dlq is not None:
                    wakeups.notify([dlq])
                remaining_s = deadline - time.monotonic()
                if received or remaining_s <= 0:
                    return {"Messages": [message(each, request) for each in received]}
                await wakeups.wait(waiter, min(CROSS_PROCESS_POLL_S, remaining_s))
            finally:
                wakeups.discard(name, waiter)

    async def delete_message(self, **request: Any) -> dict[str, Any]:
        receipt = _receipt("DeleteMessage", request["ReceiptHandle"])
        await self._database.run(sqs_operations.delete, _name(request), [receipt])
        return {}

    async def delete_message_batch(self, **request: Any) -> dict[str, Any]:
        entries = request["Entries"]
        check_batch("DeleteMessageBatch", entries, code_prefix=SQS_CODE_PREFIX)
        parsed = {entry["Id"]: Receipt.parse(entry["ReceiptHandle"]) for entry in entries}
        valid = [receipt for receipt in parsed.values() if receipt is not None]
        await self._database.run(sqs_operations.delete, _name(request), valid)
        return _batch_answer(
            {key: None if receipt else INVALID_HANDLE for key, receipt in parsed.items()}
        )

    async def change_message_visibility(self, **request: Any) -> dict[str, Any]:
        operation = "ChangeMessageVisibility"
        receipt = _receipt(operation, request["ReceiptHandle"])
        hide_s = _visibility(operation, request["VisibilityTimeout"])
        [outcome] = await self._database.run(
            sqs_operations.change_visibility, _name(request), [(receipt, hide_s)]
        )
        if outcome is VisibilityChange.NOT_IN_FLIGHT:
            raise not_in_flight(operation)
        if outcome is VisibilityChange.UNAVAILABLE:
            raise _unavailable(operation, request["ReceiptHandle"])
        if hide_s == 0:
            self._transport.wakeups.notify([_name(request)])
        return {}

    async def change_message_visibility_batch(self, **request: Any) -> dict[str, Any]:
        operation, entries = "ChangeMessageVisibilityBatch", request["Entries"]
        check_batch(operation, entries, code_prefix=SQS_CODE_PREFIX)
        receipts = [Receipt.parse(entry["ReceiptHandle"]) for entry in entries]
        timeouts = [_visibility(operation, entry["VisibilityTimeout"]) for entry in entries]
        changes = [
            (receipt, hide_s)
            for receipt, hide_s in zip(receipts, timeouts, strict=True)
            if receipt is not None
        ]
        outcomes = iter(
            await self._database.run(sqs_operations.change_visibility, _name(request), changes)
        )
        if 0 in timeouts:
            self._transport.wakeups.notify([_name(request)])
        # an answer for valid handles only: an invalid one takes none from `outcomes`
        return _batch_answer(
            {
                entry["Id"]: _failure(next(outcomes)) if receipt is not None else INVALID_HANDLE
                for entry, receipt in zip(entries, receipts, strict=True)
            }
        )

    async def send_message_batch(self, **request: Any) -> dict[str, Any]:
        entries = request["Entries"]
        check_batch("SendMessageBatch", entries, code_prefix=SQS_CODE_PREFIX, size_of=_entry_size)
        batch = [NewMessage(e["MessageBody"], e.get("MessageAttributes", {})) for e in entries]
        ids = await self._database.run(sqs_operations.send, _name(request), batch)
        self._transport.wakeups.notify([_name(request)])
        return {
            "Successful": [
                {"Id": entry["Id"], "MessageId": message_id}
                for entry, message_id in zip(entries, ids, strict=True)
            ],
            "Failed": [],
        }

    async def get_queue_attributes(self, **request: Any) -> dict[str, Any]:
        queue, depth = await self._database.run(sqs_operations.describe, _name(request))
        wanted = request.get("AttributeNames", ["All"])
        return {"Attributes": queue_attributes(self._transport.region, queue, depth, wanted)}

    async def set_queue_attributes(self, **request: Any) -> dict[str, Any]:
        """VisibilityTimeout and MessageRetentionPeriod, within SQS's ranges."""
        settings = queue_settings("SetQueueAttributes", request["Attributes"])
        await self._database.run(sqs_operations.configure, _name(request), settings)
        return {}

    async def start_message_move_task(self, **_request: Any) -> dict[str, Any]:
        # moves from a DLQ go through redrive's batches (receive, send, delete) instead
        raise client_error(
            "StartMessageMoveTask",
            "UnsupportedOperation",
            "The embedded transport has no message move tasks.",
        )

    async def _sweep_expired(self) -> None:
        """Delete expired messages of every queue, at most every EXPIRY_SWEEP_S (sooner while a
        sweep leaves some behind); receives and depths skip them meanwhile."""
        transport = self._transport
        if time.monotonic() < transport.next_sweep_at:
            return
        more_left = await self._database.run(sqs_operations.expire_all)
        transport.next_sweep_at = time.monotonic() + (0.0 if more_left else EXPIRY_SWEEP_S)


def _name(request: dict[str, Any]) -> str:
    return names.queue_of_url(request["QueueUrl"])


def _receipt(operation: str, handle: str) -> Receipt:
    receipt = Receipt.parse(handle)
    if receipt is None:
        raise invalid_receipt(operation, handle)
    return receipt


def _visibility(operation: str, value: Any) -> int:
    return bounded(operation, "VisibilityTimeout", value, 0, MAX_VISIBILITY_TIMEOUT_S)


def _unavailable(operation: str, handle: str) -> Exception:
    # what SQS answers for a handle whose message was deleted or received again since
    reason = "Message does not exist or is not available for visibility timeout change."
    message = f"Value {handle} for parameter ReceiptHandle is invalid. Reason: {reason}"
    return client_error(operation, "InvalidParameterValue", message)


def _entry_size(entry: dict[str, Any]) -> int:
    return message_size(entry["MessageBody"], entry.get("MessageAttributes"))


def _failure(outcome: VisibilityChange) -> str | None:
    """A batch entry's error code, None when it took effect."""
    if outcome is VisibilityChange.NOT_IN_FLIGHT:
        return MESSAGE_NOT_INFLIGHT
    return INVALID_HANDLE if outcome is VisibilityChange.UNAVAILABLE else None


def _batch_answer(failures: dict[str, str | None]) -> dict[str, Any]:
    """Successful for entries that took effect, Failed (as SQS words it) for the others."""
    return {
        "Successful": [{"Id": key} for key, code in failures.items() if code is None],
        "Failed": [
            {"Id": key, "SenderFault": True, "Code": code, "Message": key}
            for key, code in failures.items()
            if code is not None
        ],
    }
