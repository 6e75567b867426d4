"""How an operator command meets its terminal: quiet library logs, one console for results and
one for errors, Ctrl-C as one line and status 130 (as shells report it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from rich.console import Console

INTERRUPTED_STATUS = 130


def consoles() -> tuple[Console, Console]:
    """Standard output and standard error, as the commands print to them."""
    # the tools speak for themselves; library logs only when something is wrong
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return (
        Console(highlight=False, soft_wrap=True),
        Console(stderr=True, highlight=False, soft_wrap=True),
    )


def run_command(command: Coroutine[Any, Any, int], err: Console) -> int:
    """The command's exit status; an interrupt is reported, not a traceback."""
    try:
        return asyncio.run(command)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return INTERRUPTED_STATUS
