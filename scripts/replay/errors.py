"""Operator-facing failures: one line each, never a traceback."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError


class OperatorError(Exception):
    """Something the operator asked for cannot be done; the message says what and why."""


def one_line(exc: BaseException) -> str:
    """A single line saying what failed, for any error a subcommand may meet."""
    if isinstance(exc, OperatorError):
        return str(exc)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused: {error.get('Code', '?')}: {error.get('Message', exc)}"
    if isinstance(exc, EndpointConnectionError):
        return f"AWS endpoint unreachable: {exc}"
    if isinstance(exc, BotoCoreError):
        return f"AWS: {exc}"
    if isinstance(exc, DBAPIError):
        return f"database error: {_first_line(str(exc.orig))}"
    if isinstance(exc, SQLAlchemyError | OSError):
        return f"database or network error: {_first_line(str(exc))}"
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "(no detail)"
