"""Send the numbered messages: on a FIFO queue, one group, so they arrive in sending order."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import track

from scripts.queue_demo.options import DemoOptions
from shared.aws.demo_queues import is_fifo

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

FIFO_GROUP_ID = "default"


async def send_messages(
    sqs: SQSClient, queue_url: str, options: DemoOptions, console: Console
) -> None:
    console.print("Sending Messages:")
    for index in track(range(options.count), description="Sending", console=console):
        await sqs.send_message(**message_request(queue_url, options, index))
        # spaced sends let several publishers interleave on one queue
        await asyncio.sleep(options.delay_ms / 1000)


def message_request(queue_url: str, options: DemoOptions, index: int) -> dict[str, Any]:
    """One send_message request; FIFO queues get no deduplication id, so bodies dedupe."""
    request: dict[str, Any] = {
        "QueueUrl": queue_url,
        "MessageBody": f"{options.prepend}Message {index}",
        "MessageAttributes": {"client": {"DataType": "String", "StringValue": options.client_name}},
    }
    if is_fifo(options.queue_name):
        request["MessageGroupId"] = FIFO_GROUP_ID
    return request
