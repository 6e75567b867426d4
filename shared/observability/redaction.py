"""Credentials that travel in a URL's path are kept out of logs and traces.

A calendar feed URL (todo_api's `/api/v1/feeds/{secret}/calendar.ics`) carries its secret in
the path, for calendar apps cannot send credentials any other way; the access log's request
line, error lines and a request span's `url.path` would show it to whoever reads them.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
# the path segment after /feeds/: a feed URL's secret, whatever text was sent in its place
_SECRET_IN_PATH = re.compile(r"(/feeds/)[^/\s?#\"]+")


def redact_path(text: str) -> str:
    """`text` with the secret of every feed URL path in it masked."""
    return _SECRET_IN_PATH.sub(rf"\g<1>{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Mask the feed URL secrets in each record's message, as it will be written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_path(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
