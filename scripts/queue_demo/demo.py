"""Connect to the queue named on the command line, then send or receive."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from scripts.queue_demo.options import DemoOptions
from scripts.queue_demo.publisher import send_messages
from scripts.queue_demo.subscriber import receive_messages
from shared.aws.clients import aws_client
from shared.aws.demo_queues import ensure_queue, find_queue_url
from shared.settings import Settings


def demo_settings(options: DemoOptions) -> Settings:
    """The environment's settings; --endpoint-url wins over AWS_ENDPOINT_URL."""
    settings = Settings.from_env()
    if options.endpoint_url is None:
        return settings
    return settings.model_copy(update={"aws_endpoint_url": options.endpoint_url})


async def run_demo(options: DemoOptions, settings: Settings, console: Console) -> int:
    """Send or receive as the options say; the exit status."""
    print_banner(console, settings)
    async with aws_client(settings, "sqs") as sqs:
        if options.create:
            queue_url: str | None = await ensure_queue(sqs, options.queue_name)
        else:
            queue_url = await find_queue_url(sqs, options.queue_name)
        if queue_url is None:
            console.print(f"Unable to find a Queue by this name {options.queue_name}", markup=False)
            return 1
        console.print(f"Connected to {options.queue_name}", markup=False)
        if options.receive:
            await receive_messages(sqs, queue_url, options, console)
        else:
            await send_messages(sqs, queue_url, options, console)
    return 0


def print_banner(console: Console, settings: Settings) -> None:
    endpoint = settings.aws_endpoint_url or f"AWS {settings.aws_region} (default credential chain)"
    console.rule(Text(f"TaskOverflow queue demo · SQS endpoint: {endpoint}", style="bold"))
