"""AWS requests counted through each client's own event hooks, against moto: per app, each
attempt a request (each is billed), failed ones also errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from shared.aws.clients import CLIENT_CONFIG
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.provisioning import bootstrap
from shared.messaging.transports import open_clients
from shared.observability.metrics import Metrics
from shared.settings import Settings
from tests.support.scrapes import Scrape

# botocore's max_attempts counts retries: the request, then that many more
ATTEMPTS = 1 + int(CLIENT_CONFIG.retries["max_attempts"])  # type: ignore[attr-defined]


async def test_requests_and_errors_by_service_and_operation(aws_settings: Settings) -> None:
    await bootstrap(aws_settings)
    names = Names(aws_settings.resource_prefix)
    metrics = Metrics()
    async with open_clients(aws_settings, metrics=metrics) as (clients, _blobs):
        await clients.sqs.get_queue_url(QueueName=names.queue(JOB_TRACKER))
        with pytest.raises(ClientError):
            await clients.sqs.get_queue_url(QueueName=names.queue(JOB_TRACKER) + "-missing")
        await clients.sns.list_topics()

    found = Scrape.of(metrics)
    sqs = {"service": "sqs", "operation": "GetQueueUrl"}
    assert found.value("aws_requests_total", **sqs) == 2
    assert found.value("aws_request_errors_total", **sqs) == 1
    assert found.value("aws_call_duration_seconds_count", **sqs) == 2
    assert found.value("aws_requests_total", service="sns", operation="ListTopics") == 1
    assert found.value("aws_request_errors_total", service="sns", operation="ListTopics") == 0


async def test_each_app_counts_only_its_own_clients(aws_settings: Settings) -> None:
    await bootstrap(aws_settings)
    ours, theirs = Metrics(), Metrics()
    async with (
        open_clients(aws_settings, metrics=ours) as (clients, _),
        open_clients(aws_settings, metrics=theirs) as (_others, _blobs),
    ):
        await clients.sns.list_topics()

    assert Scrape.of(ours).value("aws_requests_total", service="sns", operation="ListTopics") == 1
    assert "aws_requests_total" not in Scrape.of(theirs).names()


async def test_an_endpoint_that_does_not_answer_counts_every_attempt_as_a_failed_request(
    aws_settings: Settings,
) -> None:
    # nothing listens on the discard port
    away = aws_settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    metrics = Metrics()
    async with open_clients(away, metrics=metrics) as (clients, _blobs):
        with pytest.raises(EndpointConnectionError):
            await clients.sqs.get_queue_url(QueueName="any")

    found = Scrape.of(metrics)
    sqs = {"service": "sqs", "operation": "GetQueueUrl"}
    assert found.value("aws_requests_total", **sqs) == ATTEMPTS
    assert found.value("aws_request_errors_total", **sqs) == ATTEMPTS
    assert found.value("aws_call_duration_seconds_count", **sqs) == 1
