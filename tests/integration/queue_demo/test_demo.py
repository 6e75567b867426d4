"""The queue demo, run as the practical runs it: real processes against moto in server mode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.queue_demo.demo import demo_settings
from scripts.queue_demo.options import parse_options
from shared.aws.clients import aws_client
from shared.aws.demo_queues import ensure_queue
from shared.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
# generous: a loaded CI machine takes seconds just to import aiobotocore
PROCESS_TIMEOUT_S = 60
IDLE_S = "1"
MESSAGE_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?P<client>[^:]+): (?P<body>.*)$")


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str

    def messages(self) -> list[tuple[str, str]]:
        """(client, body) for each `[HH:MM:SS] client: body` line, in arrival order."""
        matches = (MESSAGE_LINE.match(line) for line in self.stdout.splitlines())
        return [(m["client"], m["body"]) for m in matches if m]


def demo_env(moto_url: str) -> dict[str, str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_url}
    # these make rich draw live terminal output even into a pipe
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    return env


async def start_demo(moto_url: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.queue_demo",
        *args,
        cwd=REPO_ROOT,
        env=demo_env(moto_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> DemoRun:
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return DemoRun(process.returncode, stdout.decode(), stderr.decode())


async def run_demo(moto_url: str, *args: str) -> DemoRun:
    return await finish(await start_demo(moto_url, *args))


async def send(moto_url: str, queue: str, client: str, *extra: str) -> None:
    run = await run_demo(moto_url, "--name", queue, "--client-name", client, *extra)
    assert run.returncode == 0, run.stderr


async def receive(moto_url: str, queue: str) -> DemoRun:
    args = ("--name", queue, "--client-name", "subscriber", "--receive")
    run = await run_demo(moto_url, *args, "--exit-when-idle", IDLE_S)
    assert run.returncode == 0, run.stderr
    return run


async def wait_for_line(stream: asyncio.StreamReader, text: str) -> None:
    while text not in (await stream.readline()).decode():
        if stream.at_eof():
            raise AssertionError(f"the demo ended before printing {text!r}")


def bodies(count: int, prepend: str = "") -> list[str]:
    return [f"{prepend}Message {index}" for index in range(count)]


def overlap(senders: list[str], first: str, second: str) -> bool:
    """Whether each sender's messages began before the other's ended."""
    last = {sender: index for index, sender in enumerate(senders)}
    return senders.index(first) < last[second] and senders.index(second) < last[first]


@contextlib.contextmanager
def sigint_not_ignored() -> Iterator[None]:
    """A runner started in the background ignores SIGINT, and children inherit that; a
    terminal's Ctrl-C never meets an ignored SIGINT, so neither should the child under test."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def standard_queue(aws_settings: Settings) -> str:
    return f"{aws_settings.resource_prefix}prac"


@pytest.fixture
def fifo_queue(aws_settings: Settings) -> str:
    return f"{aws_settings.resource_prefix}prac.fifo"


class TestEnsureQueue:
    async def test_creates_a_standard_queue_once_and_returns_its_url_again(
        self, aws_settings: Settings, standard_queue: str
    ) -> None:
        async with aws_client(aws_settings, "sqs") as sqs:
            first = await ensure_queue(sqs, standard_queue)
            again = await ensure_queue(sqs, standard_queue)
            attributes = await sqs.get_queue_attributes(QueueUrl=first, AttributeNames=["All"])

        assert again == first
        assert "FifoQueue" not in attributes["Attributes"]

    async def test_creates_a_fifo_queue_with_content_based_deduplication(
        self, aws_settings: Settings, fifo_queue: str
    ) -> None:
        async with aws_client(aws_settings, "sqs") as sqs:
            url = await ensure_queue(sqs, fifo_queue)
            attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])

        assert attributes["Attributes"]["FifoQueue"] == "true"
        assert attributes["Attributes"]["ContentBasedDeduplication"] == "true"


class TestStandardQueue:
    async def test_delivers_all_hundred_messages_with_the_client_name(
        self, moto_url: str, standard_queue: str
    ) -> None:
        await send(moto_url, standard_queue, "publisher", "--create")

        run = await receive(moto_url, standard_queue)

        assert sorted(body for _, body in run.messages()) == sorted(bodies(100))
        assert {client for client, _ in run.messages()} == {"publisher"}

    async def test_prints_a_message_without_a_client_attribute_as_unknown(
        self, aws_settings: Settings, moto_url: str, standard_queue: str
    ) -> None:
        async with aws_client(aws_settings, "sqs") as sqs:
            url = await ensure_queue(sqs, standard_queue)
            await sqs.send_message(QueueUrl=url, MessageBody="from another tool")

        run = await receive(moto_url, standard_queue)

        assert run.messages() == [("unknown", "from another tool")]


class TestFifoQueue:
    async def test_keeps_each_publishers_messages_in_order_when_they_interleave(
        self, aws_settings: Settings, moto_url: str, fifo_queue: str
    ) -> None:
        async with aws_client(aws_settings, "sqs") as sqs:
            await ensure_queue(sqs, fifo_queue)
        # distinct bodies: content-based deduplication would drop the second "Message 0"
        spaced = ("--count", "40", "--delay-ms", "20")
        await asyncio.gather(
            send(moto_url, fifo_queue, "alice", *spaced, "--prepend", "A "),
            send(moto_url, fifo_queue, "bob", *spaced, "--prepend", "B "),
        )

        arrived = (await receive(moto_url, fifo_queue)).messages()

        assert [body for client, body in arrived if client == "alice"] == bodies(40, "A ")
        assert [body for client, body in arrived if client == "bob"] == bodies(40, "B ")
        assert overlap([client for client, _ in arrived], "alice", "bob")

    async def test_delivers_the_same_bodies_once_until_prepend_makes_them_new(
        self, moto_url: str, fifo_queue: str
    ) -> None:
        few = ("--count", "25")
        await send(moto_url, fifo_queue, "publisher", *few, "--create")
        # sent before any is received: moto, unlike SQS, forgets the ids of deleted messages
        await send(moto_url, fifo_queue, "publisher", *few)
        await send(moto_url, fifo_queue, "publisher", *few, "--prepend", "again ")

        arrived = [body for _, body in (await receive(moto_url, fifo_queue)).messages()]

        assert arrived == bodies(25) + bodies(25, "again ")


class TestCommandLine:
    async def test_reports_an_unknown_queue_and_sends_nothing(
        self, moto_url: str, standard_queue: str
    ) -> None:
        run = await run_demo(moto_url, "--name", standard_queue, "--client-name", "publisher")

        assert f"Unable to find a Queue by this name {standard_queue}" in run.stdout
        assert "Sending Messages" not in run.stdout
        assert run.returncode == 1

    async def test_exits_with_usage_error_when_client_name_is_missing(
        self, moto_url: str, standard_queue: str
    ) -> None:
        run = await run_demo(moto_url, "--name", standard_queue)

        assert run.returncode == 2
        assert "--client-name" in run.stderr

    async def test_stops_receiving_on_ctrl_c_with_status_zero_and_no_traceback(
        self, moto_url: str, standard_queue: str
    ) -> None:
        args = ("--name", standard_queue, "--client-name", "subscriber", "--receive", "--create")
        with sigint_not_ignored():
            process = await start_demo(moto_url, *args)
        assert process.stdout is not None
        await asyncio.wait_for(wait_for_line(process.stdout, "Waiting for messages"), 30)

        process.send_signal(signal.SIGINT)
        run = await finish(process)

        assert run.returncode == 0
        assert "Traceback" not in run.stderr

    def test_takes_the_endpoint_option_over_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-env:4566")
        options = parse_options(
            ["--name", "q", "--client-name", "c", "--endpoint-url", "http://x:1"]
        )

        assert demo_settings(options).aws_endpoint_url == "http://x:1"
