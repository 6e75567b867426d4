"""What a failed readiness check tells an anonymous client: a few words, never the detail."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from sqlalchemy.exc import OperationalError

from shared.app.readiness import short_reason

SECRET_DETAIL = "db.internal:5432 user=taskoverflow"


def client_error(code: str, status: int) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": SECRET_DETAIL},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetQueueUrl")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "no answer within 2s"),
        (ConnectionRefusedError(SECRET_DETAIL), "unreachable"),
        (OperationalError("SELECT true", {}, ConnectionResetError(SECRET_DETAIL)), "unreachable"),
        (EndpointConnectionError(endpoint_url=f"http://{SECRET_DETAIL}"), "unreachable"),
        (client_error("ServiceUnavailable", 503), "unreachable"),
        (
            client_error("AWS.SimpleQueueService.NonExistentQueue", 400),
            "refused (AWS.SimpleQueueService.NonExistentQueue)",
        ),
        (client_error("AccessDenied", 403), "refused (AccessDenied)"),
        (LookupError(f"SNS topic {SECRET_DETAIL!r} not found"), "not found"),
        (ValueError(SECRET_DETAIL), "failed"),
    ],
)
def test_names_the_kind_of_failure_without_its_detail(exc: Exception, reason: str) -> None:
    assert short_reason(exc) == reason
    assert SECRET_DETAIL not in short_reason(exc)
