"""Create the topology at any endpoint (moto, LocalStack, AWS); running it again changes nothing."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared.aws.clients import aws_client
from shared.contracts.topology import DLQ_RETENTION_S, QUEUE_RETENTION_S, QUEUES, Names, QueueSpec
from shared.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployed:
    topic_arn: str
    queue_urls: dict[str, str]
    bucket: str


async def bootstrap(settings: Settings) -> Deployed:
    names = Names(settings.resource_prefix)
    async with aws_client(settings, "sns") as sns, aws_client(settings, "sqs") as sqs:
        topic_arn = (await sns.create_topic(Name=names.topic))["TopicArn"]
        queue_urls = {}
        for spec in QUEUES:
            queue_urls[spec.name] = await _queue_with_dlq(sqs, names, spec, topic_arn, settings)
            await _subscribe(sns, sqs, topic_arn, queue_urls[spec.name], spec)
    async with aws_client(settings, "s3") as s3:
        await _bucket(s3, names.bucket, settings.aws_region)
    logger.info("topology ready: topic %s, queues %s", topic_arn, ", ".join(queue_urls))
    return Deployed(topic_arn, queue_urls, names.bucket)


async def _queue_with_dlq(
    sqs: Any, names: Names, spec: QueueSpec, topic_arn: str, settings: Settings
) -> str:
    dlq_url = await _ensure_queue(
        sqs, names.dlq(spec), {"MessageRetentionPeriod": str(DLQ_RETENTION_S)}
    )
    dlq_arn = await queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.sqs_max_receive_count}
    attributes = {
        "VisibilityTimeout": str(settings.sqs_visibility_timeout_s),
        "MessageRetentionPeriod": str(QUEUE_RETENTION_S),
        "RedrivePolicy": json.dumps(redrive),
    }
    url = await _ensure_queue(sqs, names.queue(spec), attributes)
    policy = _allow_topic(await queue_arn(sqs, url), topic_arn)
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    return url


async def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        url: str = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    except ClientError:
        return str((await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"])
    await sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


async def queue_arn(sqs: Any, url: str) -> str:
    found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(found["Attributes"]["QueueArn"])


def _allow_topic(queue: str, topic_arn: str) -> str:
    """A queue policy that lets only our topic send to the queue."""
    statement = {
        "Sid": "topic-sends",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


async def _subscribe(sns: Any, sqs: Any, topic_arn: str, url: str, spec: QueueSpec) -> None:
    endpoint = await queue_arn(sqs, url)
    existing = await sns.list_subscriptions_by_topic(TopicArn=topic_arn)
    for subscription in existing.get("Subscriptions", []):
        if subscription["Endpoint"] == endpoint:
            await sns.set_subscription_attributes(
                SubscriptionArn=subscription["SubscriptionArn"],
                AttributeName="FilterPolicy",
                AttributeValue=spec.filter_policy(),
            )
            return
    await sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=endpoint,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": spec.filter_policy()},
        ReturnSubscriptionArn=True,
    )


async def _bucket(s3: Any, bucket: str, region: str) -> None:
    arguments: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        await s3.create_bucket(**arguments)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
