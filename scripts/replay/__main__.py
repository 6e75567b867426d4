"""`python -m scripts.replay COMMAND --service NAME ...`: operator tools for replaying events."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from scripts.replay.cli import Context, execute
from shared.settings import Settings

INTERRUPTED_STATUS = 130


def main(argv: Sequence[str] | None = None) -> int:
    # the tools speak for themselves; library logs only when something is wrong
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    base = Settings.from_env()
    context = Context(
        base=base,
        var_dir=base.var_dir,
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
