"""`python -m scripts.queue_demo --name QUEUE --client-name NAME [--receive] [--prepend TEXT]`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from scripts.queue_demo.demo import demo_settings, run_demo
from scripts.queue_demo.options import parse_options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    console = Console(highlight=False)
    try:
        return asyncio.run(run_demo(options, demo_settings(options), console))
    except KeyboardInterrupt:
        # Ctrl-C is how a subscriber is meant to stop
        console.print("Stopped.")
        return 0
    except (BotoCoreError, ClientError) as exc:
        Console(stderr=True, highlight=False).print(f"Queue demo failed: {exc}", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
