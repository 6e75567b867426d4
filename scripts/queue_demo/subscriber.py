"""Print each message as it arrives, then delete it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console

from scripts.queue_demo.options import DemoOptions

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
    )

CLIENT_ATTRIBUTE = "client"
UNKNOWN_CLIENT = "unknown"
MAX_MESSAGES = 10
# short long-polls keep --exit-when-idle prompt; a second is still one request a second at most
WAIT_TIME_S = 1


async def receive_messages(
    sqs: SQSClient, queue_url: str, options: DemoOptions, console: Console
) -> None:
    """Receive until Ctrl-C, or until idle for options.exit_when_idle_s."""
    last_message_at = time.monotonic()
    with waiting_indicator(console):
        while not _idle_too_long(last_message_at, options.exit_when_idle_s):
            if await print_and_delete_batch(sqs, queue_url, console):
                last_message_at = time.monotonic()


async def print_and_delete_batch(sqs: SQSClient, queue_url: str, console: Console) -> int:
    """Print one long poll's messages, then delete them; how many arrived."""
    response = await sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=MAX_MESSAGES,
        WaitTimeSeconds=WAIT_TIME_S,
        MessageAttributeNames=[CLIENT_ATTRIBUTE],
    )
    messages = response.get("Messages", [])
    for message in messages:
        console.out(message_line(message, datetime.now()))
    if messages:
        await delete_batch(sqs, queue_url, messages, console)
    return len(messages)


async def delete_batch(
    sqs: SQSClient, queue_url: str, messages: list[MessageTypeDef], console: Console
) -> None:
    """Delete printed messages in one request; any that fail will be delivered and printed again."""
    entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
        for index, message in enumerate(messages)
    ]
    response = await sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    for failure in response.get("Failed", []):
        console.print(f"Could not delete a message ({failure['Code']}); it will arrive again")


def message_line(message: MessageTypeDef, received_at: datetime) -> str:
    """`[HH:MM:SS] client: body`; a message from another tool shows as from `unknown`."""
    return f"[{received_at:%H:%M:%S}] {_client_name(message)}: {message.get('Body', '')}"


def _client_name(message: MessageTypeDef) -> str:
    attribute = message.get("MessageAttributes", {}).get(CLIENT_ATTRIBUTE)
    if attribute is None:
        return UNKNOWN_CLIENT
    return attribute.get("StringValue", UNKNOWN_CLIENT)


@contextlib.contextmanager
def waiting_indicator(console: Console) -> Iterator[None]:
    # a spinner draws nothing in a pipe or a log, so there the wait is announced once instead
    if not console.is_terminal:
        console.print("Waiting for messages...")
        yield
        return
    with console.status("Waiting for messages..."):
        yield


def _idle_too_long(last_message_at: float, exit_when_idle_s: float | None) -> bool:
    if exit_when_idle_s is None:
        return False
    return time.monotonic() - last_message_at >= exit_when_idle_s
