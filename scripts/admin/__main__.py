"""`python -m scripts.admin keys COMMAND ...`: operators manage todo_api's API keys."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from scripts.admin.cli import Context, execute
from scripts.replay.console import consoles, run_command
from shared.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    out, err = consoles()
    base = Settings.from_env()
    context = Context(base=base, out=out, err=err)
    return run_command(execute(list(sys.argv[1:] if argv is None else argv), context), err)


if __name__ == "__main__":
    sys.exit(main())
