"""Time as the API speaks it: naive UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_datetime(text: str) -> datetime:
    """Parse ISO 8601 (space or T, fractions, Z or offset) into naive UTC."""
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        return parsed
    try:
        return parsed.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+10:00 falls before year 1 in UTC
        raise ValueError(f"{text!r} is out of range in UTC") from None
