"""The practical's demo queues: one standard, one FIFO, created the same way everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

DEMO_QUEUE_NAMES = ("csse6400_prac", "csse6400_prac.fifo")
FIFO_SUFFIX = ".fifo"


def is_fifo(name: str) -> bool:
    return name.endswith(FIFO_SUFFIX)


def queue_attributes(name: str) -> dict[QueueAttributeNameType, str]:
    """FIFO queues deduplicate by body, so re-sending a message within five minutes is a no-op."""
    if is_fifo(name):
        return {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    return {}


async def find_queue_url(sqs: SQSClient, name: str) -> str | None:
    """The queue's URL, or None when no queue has that name."""
    try:
        response = await sqs.get_queue_url(QueueName=name)
    except sqs.exceptions.QueueDoesNotExist:
        return None
    return response["QueueUrl"]


async def ensure_queue(sqs: SQSClient, name: str) -> str:
    """Create the queue unless it exists; return its URL."""
    # an existing queue is used as it is: create_queue fails if its attributes differ from ours
    existing = await find_queue_url(sqs, name)
    if existing is not None:
        return existing
    response = await sqs.create_queue(QueueName=name, Attributes=queue_attributes(name))
    return response["QueueUrl"]
