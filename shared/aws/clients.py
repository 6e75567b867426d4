"""The one place AWS clients are made: moto, LocalStack and AWS differ only in settings."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from shared.aws.form_bodies import encode_form_once
from shared.settings import Settings

# reads must outlast SQS long polls (at most 20 s); connects fail fast so outages show quickly
CLIENT_CONFIG = AioConfig(
    connect_timeout=3,
    read_timeout=30,
    retries={"max_attempts": 3, "mode": "standard"},
    max_pool_connections=50,
)
EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class AwsClients:
    """The SNS, SQS and S3 clients a service talks through (S3 is None on the emulator)."""

    sns: Any
    sqs: Any
    s3: Any


def aws_client(settings: Settings, service: str) -> Any:
    """An async client context for `service` ("sns", "sqs", "s3") at the configured endpoint."""
    return _session().create_client(  # type: ignore[call-overload]
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=CLIENT_CONFIG,
        **_credentials(settings),
    )


# HTTP requests this process sent to AWS, by "service.Operation", retries included (each is billed)
REQUESTS: Counter[str] = Counter()


@functools.cache
def _session() -> AioSession:
    # one session per process: each new one parses botocore's service models again (~30 MB)
    session = get_session()
    session.register("before-send", _count_request)
    # SNS speaks the query protocol: its form body encoded once, not once per reading
    session.register("before-sign.sns", encode_form_once)
    return session


def _count_request(event_name: str, **_: Any) -> None:
    # event_name is "before-send.<service>.<Operation>"
    REQUESTS[event_name.split(".", 1)[1]] += 1


def _credentials(settings: Settings) -> dict[str, str]:
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        return {
            "aws_access_key_id": settings.aws_access_key_id,
            "aws_secret_access_key": settings.aws_secret_access_key,
        }
    return EMULATOR_CREDENTIALS if settings.aws_endpoint_url else {}
