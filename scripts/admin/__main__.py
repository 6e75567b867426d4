"""`python -m scripts.admin keys COMMAND ...`: operators manage todo_api's API keys."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from scripts.admin.cli import Context, execute
from shared.settings import Settings

INTERRUPTED_STATUS = 130


def main(argv: Sequence[str] | None = None) -> int:
    # the tool speaks for itself; library logs only when something is wrong
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    base = Settings.from_env()
    context = Context(
        base=base,
        out=Console(highlight=False, soft_wrap=True),
        err=Console(stderr=True, highlight=False, soft_wrap=True),
    )
    try:
        return asyncio.run(execute(list(sys.argv[1:] if argv is None else argv), context))
    except KeyboardInterrupt:
        context.err.print("interrupted", markup=False)
        return INTERRUPTED_STATUS


if __name__ == "__main__":
    sys.exit(main())
