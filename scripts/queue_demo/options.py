"""The command line, compatible with the practical's original tool plus a few extras."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoOptions:
    queue_name: str
    client_name: str
    receive: bool
    prepend: str
    count: int
    delay_ms: int
    create: bool
    # None: receive until Ctrl-C
    exit_when_idle_s: float | None
    endpoint_url: str | None


def parse_options(argv: Sequence[str] | None = None) -> DemoOptions:
    """Parse argv; a missing or bad option exits with status 2, as argparse does."""
    args = _parser().parse_args(argv)
    return DemoOptions(
        queue_name=args.name,
        client_name=args.client_name,
        receive=args.receive,
        prepend=args.prepend,
        count=args.count,
        delay_ms=args.delay_ms,
        create=args.create,
        exit_when_idle_s=args.exit_when_idle,
        endpoint_url=args.endpoint_url,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.queue_demo",
        description="Send numbered messages to an SQS queue, or print the messages that arrive.",
    )
    parser.add_argument(
        "--name", required=True, metavar="QUEUE", help="the queue's name (FIFO if it ends in .fifo)"
    )
    parser.add_argument(
        "--client-name", required=True, metavar="NAME", help="who is sending or receiving"
    )
    parser.add_argument("--receive", action="store_true", help="receive instead of sending")
    parser.add_argument(
        "--prepend", default="", metavar="TEXT", help="text put before each message body"
    )
    parser.add_argument(
        "--count", type=_at_least(1), metavar="N", default=100, help="messages to send"
    )
    parser.add_argument(
        "--delay-ms", type=_at_least(0), metavar="MS", default=0, help="pause between sends"
    )
    parser.add_argument("--create", action="store_true", help="create the queue if it is missing")
    parser.add_argument(
        "--exit-when-idle",
        type=positive_seconds,
        metavar="S",
        help="stop receiving after S seconds without a message (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="SQS endpoint (default: $AWS_ENDPOINT_URL, else real AWS)",
    )
    return parser


# argparse names the inner function in its "invalid integer value" message
def _at_least(minimum: int) -> Callable[[str], int]:
    def integer(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return integer


def positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value
