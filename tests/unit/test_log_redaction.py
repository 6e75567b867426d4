"""A calendar feed URL's secret, a credential in the path, is masked in every log line and in
the request span's path; nothing else in a line changes."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.observability.logs import log_handler
from shared.observability.redaction import redact_path
from shared.settings import Settings

SECRET = "zf0tWnxon9xkwjgsXF_ZwWs3eeDi0LkKDRp3Ei2C0x0"
FEED = f"/api/v1/feeds/{SECRET}/calendar.ics"
MASKED = "/api/v1/feeds/<redacted>/calendar.ics"


class TestRedactPath:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (FEED, MASKED),
            (
                f'127.0.0.1 "GET {FEED}?x=1 HTTP/1.1" 200',
                f'127.0.0.1 "GET {MASKED}?x=1 HTTP/1.1" 200',
            ),
            ("/api/v1/feeds/a%2Fb/calendar.ics", MASKED),
            (f"GET {FEED} then GET {FEED}", f"GET {MASKED} then GET {MASKED}"),
        ],
    )
    def test_masks_the_segment_after_feeds(self, text: str, expected: str) -> None:
        assert redact_path(text) == expected
        assert SECRET not in redact_path(text)

    def test_leaves_every_other_path_alone(self) -> None:
        paths = "/api/v1/todos/calendar.ics /api/v1/todos/calendar-feed /api/v1/todos/7"

        assert redact_path(paths) == paths


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_service_s_handler_writes_a_masked_line(log_format: str) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.unit.redaction")
    handler = log_handler(Settings(log_format=log_format), stream)
    logger.addHandler(handler)
    try:
        logger.warning('%s "%s %s" %d', "127.0.0.1", "GET", FEED, 200)
    finally:
        logger.removeHandler(handler)

    line = stream.getvalue()
    message = json.loads(line)["message"] if log_format == "json" else line
    assert SECRET not in line
    assert f'127.0.0.1 "GET {MASKED}" 200' in message
