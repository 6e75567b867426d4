"""Reading what the services answer the operations page: the backlog gauge, short reasons."""

from __future__ import annotations

import aiohttp

from services.todo_api.ops_probes import BACKLOG_METRIC, backlog_in, reason

EXPOSITION = f"""# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 40.0
# HELP {BACKLOG_METRIC} Events stored and waiting to be published
# TYPE {BACKLOG_METRIC} gauge
{BACKLOG_METRIC} 7.0
"""


class TestBacklog:
    def test_the_gauge_is_read_from_the_exposition(self) -> None:
        assert backlog_in(EXPOSITION) == 7

    def test_a_service_without_an_outbox_has_no_backlog(self) -> None:
        assert backlog_in("# TYPE process_open_fds gauge\nprocess_open_fds 40.0\n") is None

    def test_text_that_is_not_an_exposition_gives_none(self) -> None:
        assert backlog_in("<html>not metrics</html>\n") is None


class TestReason:
    def test_a_timeout_says_how_long_was_waited(self) -> None:
        assert reason(TimeoutError(), 0.3) == "no answer within 0.3 s"

    def test_an_error_is_one_short_line_with_its_kind(self) -> None:
        exc = aiohttp.ClientConnectionError("Cannot connect\nto host " + "x" * 500)

        assert reason(exc, 3) == "ClientConnectionError: Cannot connect"

    def test_an_error_without_a_message_is_named_by_its_kind(self) -> None:
        assert reason(ConnectionResetError(), 3) == "ConnectionResetError"
