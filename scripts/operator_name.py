"""Who runs an operator tool, as the events it records name the actor."""

from __future__ import annotations

import getpass


def operator_name() -> str:
    """`operator:<login>`, or `operator` where the login cannot be had."""
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"
