"""Reading what the services answer the operations page: the backlog gauge, public reasons."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from botocore.exceptions import ClientError, EndpointConnectionError
from sqlalchemy.exc import OperationalError

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


SECRET_DETAIL = "tracker.taskoverflow.internal 10.0.3.7:6400 arn:aws:iam::123456789012:role/api"


def client_error(code: str, status: int) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": f"User {SECRET_DETAIL} is not authorized"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetQueueAttributes")  # type: ignore[arg-type]


def refused_connection() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("10.0.3.7", 6400, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, SECRET_DETAIL))


class TestReason:
    """A few public words for the page: the detail (hosts, addresses, accounts) goes to the log."""

    @pytest.mark.parametrize(
        ("exc", "expected"),
        [
            (TimeoutError(SECRET_DETAIL), "no answer within 0.3 s"),
            (refused_connection(), "connection refused"),
            (ConnectionRefusedError(111, SECRET_DETAIL), "connection refused"),
            (aiohttp.ServerDisconnectedError(SECRET_DETAIL), "connection failed"),
            (aiohttp.ClientConnectionError(f"to {SECRET_DETAIL}"), "connection failed"),
            (OperationalError("SELECT 1", {}, OSError(SECRET_DETAIL)), "unreachable"),
            (EndpointConnectionError(endpoint_url=f"http://{SECRET_DETAIL}"), "unreachable"),
            (client_error("AccessDenied", 403), "refused (AccessDenied)"),
            (client_error("ServiceUnavailable", 503), "refused (ServiceUnavailable)"),
            (ValueError(SECRET_DETAIL), "failed"),
        ],
    )
    def test_names_the_kind_of_failure_never_its_text(self, exc: Exception, expected: str) -> None:
        said = reason(exc, 0.3)

        assert said == expected
        for detail in SECRET_DETAIL.split():
            assert detail not in said
