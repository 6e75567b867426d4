"""A send in one process wakes a receive waiting in another on the same transport file at once,
not at the file's next re-read: each waiting process listens on a loopback port named in the
folder beside the file (shared/neighbours.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from embedded.transport.clients import provision_embedded, transport_path
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.transports import transport_client
from shared.neighbours import wake_folder
from shared.settings import Settings
from tests.support.polling import eventually
from tests.support.waiting_receiver import LONGEST_WAIT_S


def listed_in_folder(path: Path) -> Callable[[], Awaitable[bool]]:
    async def listed() -> bool:
        return await asyncio.to_thread(path.is_file)

    return listed


def start_receiver(var_dir: Path) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parents[3]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.waiting_receiver", str(var_dir)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_send_here_ends_a_wait_there_long_before_its_re_read(tmp_path: Path) -> None:
    settings = Settings(transport="embedded", var_dir=tmp_path)
    await provision_embedded(settings)
    receiver = start_receiver(tmp_path)
    try:
        # it names its port before it first looks at the queue, so no send can fall in between
        listed = wake_folder(transport_path(settings)) / str(receiver.pid)
        await eventually(listed_in_folder(listed), timeout_s=30)
        async with transport_client(settings, "sqs") as sqs:
            queue = Names(settings.resource_prefix).queue(JOB_TRACKER)
            url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
            await sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "wake up"}]
            )
        out, err = receiver.communicate(timeout=LONGEST_WAIT_S + 30)
    finally:
        receiver.kill()
    waited_s, _, body = out.strip().partition(" ")

    assert receiver.returncode == 0, err
    assert body == "wake up"
    # without the wake-up it would have waited out its 20 s and got nothing
    assert float(waited_s) < LONGEST_WAIT_S / 2
    assert not listed.exists()


async def test_a_process_gone_without_closing_is_dropped_from_the_folder(tmp_path: Path) -> None:
    settings = Settings(transport="embedded", var_dir=tmp_path)
    await provision_embedded(settings)
    receiver = start_receiver(tmp_path)
    listed = wake_folder(transport_path(settings)) / str(receiver.pid)
    await eventually(listed_in_folder(listed), timeout_s=30)
    receiver.kill()
    receiver.communicate(timeout=30)

    async with transport_client(settings, "sqs") as sqs:
        queue = Names(settings.resource_prefix).queue(JOB_TRACKER)
        url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
        await sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "nobody there"}]
        )

    assert not listed.exists()
