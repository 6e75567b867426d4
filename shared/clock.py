"""Time as the API speaks it: naive UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_datetime(text: str) -> datetime:
    """Parse ISO 8601 (space or T, fractions, Z or offset) into naive UTC."""
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
