"""Errors shaped like botocore's, so callers tell them apart by code as they do with AWS."""

from __future__ import annotations

from botocore.exceptions import ClientError

NON_EXISTENT_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"
MESSAGE_NOT_INFLIGHT = "AWS.SimpleQueueService.MessageNotInflight"


def client_error(operation: str, code: str, message: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


def no_such_queue(operation: str, name: str) -> ClientError:
    return client_error(operation, NON_EXISTENT_QUEUE, f"The queue {name} does not exist.")


def invalid_receipt(operation: str, handle: str) -> ClientError:
    return client_error(
        operation, "ReceiptHandleIsInvalid", f"The receipt handle {handle!r} is not valid."
    )


def not_in_flight(operation: str) -> ClientError:
    """SQS's answer to a change of visibility after the timeout ran out (the code botocore
    reports, from SQS's x-amzn-query-error header)."""
    return client_error(operation, MESSAGE_NOT_INFLIGHT, "The message referred to isn't in flight.")
