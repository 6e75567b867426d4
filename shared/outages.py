"""Telling a dependency outage (wait and try again) from a failure of the work itself."""

from __future__ import annotations

import aiohttp
import asyncpg
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# AWS error codes that mean "the service is busy or away", not "the request is wrong"
TRANSIENT_AWS_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "KMSThrottlingException",
    }
)
_OUTAGE_TYPES = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    OSError,
    TimeoutError,
    BotoCoreError,
    # an HTTP connection to a dependency that broke, also half-way through a body (an S3 file)
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
)


class DependencyUnavailableError(Exception):
    """A database, queue or bucket the work needs cannot be reached."""


def is_outage(exc: BaseException) -> bool:
    """True when `exc`, or what caused it, says a dependency is unreachable or overloaded."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_outage_itself(current):
            return True
        # explicit causes only: an error raised while handling an outage is not itself one
        current = current.__cause__ or getattr(current, "orig", None)
    return False


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, (DependencyUnavailableError, *_OUTAGE_TYPES)):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in TRANSIENT_AWS_CODES or int(status or 0) >= 500
    return False
