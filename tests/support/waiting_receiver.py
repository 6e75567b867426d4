"""A process that waits on a queue of the embedded transport, for the cross-process wake-up
tests: `python -m tests.support.waiting_receiver VAR_DIR`. Its receive waits 20 s with the
re-read of the file pushed beyond that, so only a wake-up from another process can end it
early; it prints how long it waited and the body it got (nothing: an empty line)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from embedded.transport import sqs_client
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.transports import transport_client
from shared.settings import Settings

LONGEST_WAIT_S = 20


async def wait_once(var_dir: Path) -> str:
    settings = Settings(transport="embedded", var_dir=var_dir)
    async with transport_client(settings, "sqs") as sqs:
        queue = Names(settings.resource_prefix).queue(JOB_TRACKER)
        url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
        started = time.monotonic()
        got = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=LONGEST_WAIT_S)
        waited_s = time.monotonic() - started
    bodies = [message["Body"] for message in got.get("Messages", [])]
    return f"{waited_s:.3f} {' '.join(bodies)}"


if __name__ == "__main__":
    sqs_client.CROSS_PROCESS_POLL_S = 10 * LONGEST_WAIT_S
    print(asyncio.run(wait_once(Path(sys.argv[1]))), flush=True)
