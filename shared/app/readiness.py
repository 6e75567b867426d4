"""GET /api/v1/ready: can this instance work now, its database and broker answering?

`/api/v1/health` says the process is alive and its loop answers: the load balancer and the
container check ask it, and replace a task that fails it. Readiness says whether its dependencies
answer, for operators, compose's start order and the operations page; a task that is not ready
is kept, since an outage of a dependency is not mended by restarting. Each check is one cheap
request with a short timeout, run side by side; the answer names what failed with a short
reason, the detail (hosts, accounts) going to the log only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from weakref import WeakKeyDictionary

from aiohttp import web
from botocore.exceptions import ClientError
from pydantic import BaseModel
from sqlalchemy import select, true

from shared.app.app_keys import aws_key, settings_key, store_key
from shared.contracts.topology import Names, QueueSpec
from shared.deadline import Deadline
from shared.messaging.publisher import resolve_topic_arn
from shared.outages import is_outage
from shared.web.http import Handler, json_response

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 2.0
OK = "ok"
Probe = Callable[[web.Application], Awaitable[object]]
SELECT_TRUE = select(true())
# each app's topic ARN once found (the readiness views are shared by every app of a process)
_topic_arns: WeakKeyDictionary[web.Application, str] = WeakKeyDictionary()


class Readiness(BaseModel):
    """The database and the broker answer."""

    status: str
    checks: dict[str, str]


class NotReady(BaseModel):
    """The database or the broker does not answer: which, and why in a few words."""

    error: str
    checks: dict[str, str]


async def database_answers(app: web.Application) -> None:
    async with app[store_key].reading() as conn:
        await conn.execute(SELECT_TRUE)


async def topic_found(app: web.Application) -> object:
    """The service's topic answers to its ARN (GetTopicAttributes, one cheap call).

    The ARN is found by name once per app: ListTopics pages through every topic of the account
    under an account-wide rate limit, too dear for a check that runs every few seconds.
    """
    sns = app[aws_key].sns
    arn = _topic_arns.get(app)
    if arn is None:
        arn = await resolve_topic_arn(sns, Names(app[settings_key].resource_prefix).topic)
        _topic_arns[app] = arn
    return await sns.get_topic_attributes(TopicArn=arn)


def queue_found(spec: QueueSpec) -> Probe:
    """The queue `spec` names, looked up as its consumer does (GetQueueUrl)."""

    async def probe(app: web.Application) -> object:
        name = Names(app[settings_key].resource_prefix).queue(spec)
        return await app[aws_key].sqs.get_queue_url(QueueName=name)

    return probe


def readiness(*broker: Probe) -> Handler:
    """The readiness view of a service whose broker is what the `broker` probes ask."""

    deadline = Deadline()

    async def ready(request: web.Request) -> web.Response:
        app = request.app
        database, *brokers = await asyncio.gather(
            _check("database", database_answers, app, deadline),
            *(_check("broker", probe, app, deadline) for probe in broker),
        )
        failed_broker = next((reason for reason in brokers if reason != OK), OK)
        checks = {"database": database, "broker": failed_broker}
        failed = [name for name, reason in checks.items() if reason != OK]
        if not failed:
            return json_response(Readiness(status="ready", checks=checks))
        message = f"Not ready: {' and '.join(failed)} unavailable"
        return json_response(NotReady(error=message, checks=checks), 503)

    return ready


async def _check(name: str, probe: Probe, app: web.Application, deadline: Deadline) -> str:
    """OK, or a short reason the probe failed, within CHECK_TIMEOUT_S."""
    try:
        await deadline.run(probe(app), CHECK_TIMEOUT_S)
    except Exception as exc:
        reason = short_reason(exc)
        logger.warning("not ready: %s %s: %r", name, reason, exc)
        return reason
    return OK


def short_reason(exc: BaseException) -> str:
    """A few words for an anonymous client: nothing of hosts, accounts or credentials."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:g}s"
    if isinstance(exc, LookupError):
        return "not found"
    if is_outage(exc):
        return "unreachable"
    if isinstance(exc, ClientError):
        return f"refused ({exc.response.get('Error', {}).get('Code', 'error')})"
    return "failed"
