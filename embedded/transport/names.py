"""Queue URLs and ARNs of the embedded transport, shaped like AWS's so callers parse them alike."""

from __future__ import annotations

# the account id moto and LocalStack use
ACCOUNT = "000000000000"
URL_PREFIX = f"embedded://sqs/{ACCOUNT}/"


def queue_url(name: str) -> str:
    return URL_PREFIX + name


def queue_of_url(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def queue_arn(region: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"


def topic_arn(region: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{ACCOUNT}:{name}"


def name_of_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]
