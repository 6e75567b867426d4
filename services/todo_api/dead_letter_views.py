"""The operations page's dead letters: every DLQ's messages grouped by failure, one message in
full, a redrive of a group or some messages at a rate, a discard with a reason (recorded in this
service's log). The moving and discarding are `shared/messaging/dead_letters`, which the
command line (`python -m scripts.replay dead-letters`) runs too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.todo_api.app_keys import aws_key, settings_key, store_key
from services.todo_api.ops_probes import reason
from services.todo_api.redrive_runs import redrive_runs_key
from services.todo_api.shared_result import SharedResult
from shared.auth.middleware import principal_key
from shared.contracts.dead_letters import (
    Choice,
    DeadLetterQueueReport,
    DeadLettersReport,
    Discarded,
    DiscardRequest,
    RedriveRequest,
    Redrives,
)
from shared.contracts.topology import QUEUES, Names, QueueSpec
from shared.messaging.dead_letters.dead_letter_queue import (
    DeadLetterQueue,
    NothingChosenError,
    Selection,
    UnknownQueueError,
    queue_spec,
)
from shared.messaging.dead_letters.discards import recent_discards, recorder
from shared.messaging.dead_letters.report import detail, group_report
from shared.web.http import bad_request, json_response, not_found, parse_body

logger = logging.getLogger(__name__)
# a look at the DLQs hides their messages while it runs: one look answers every viewer for this
# long, and viewers that ask while it runs wait for it instead of hiding messages from it
REPORT_FRESH_S = 1.0
dead_letters_report_key = web.AppKey("dead_letters_report", SharedResult[DeadLettersReport])
MAX_ID_CHARS = 200
# a look at a DLQ of up to a thousand messages takes about a second per hundred
READ_TIMEOUT_S = 15.0


async def dead_letters_view(request: web.Request) -> web.Response:
    report = await request.app[dead_letters_report_key].get(lambda: _report(request.app))
    return json_response(report)


async def dead_letter_view(request: web.Request) -> web.Response:
    queue_name = request.query.get("queue", "")
    message_id = request.query.get("message_id", "")
    if not queue_name or not message_id or len(message_id) > MAX_ID_CHARS:
        raise bad_request("queue and message_id are required")
    queue = _queue(request.app, queue_name)
    letter = await queue.find(message_id)
    if letter is None:
        raise not_found(f"{queue.name} holds no message {message_id}")
    return json_response(detail(queue.name, letter))


async def start_redrive_view(request: web.Request) -> web.Response:
    asked = await parse_body(request, RedriveRequest)
    queue = _queue(request.app, asked.queue)
    chosen = await _chosen(queue, asked)
    run = request.app[redrive_runs_key].start(
        queue, chosen, rate=asked.rate, group_id=asked.group_id
    )
    return json_response(run.state(), status=202)


async def redrives_view(request: web.Request) -> web.Response:
    return json_response(Redrives(redrives=request.app[redrive_runs_key].states()))


async def discard_view(request: web.Request) -> web.Response:
    asked = await parse_body(request, DiscardRequest)
    queue = _queue(request.app, asked.queue)
    chosen = await _chosen(queue, asked)
    actor = request[principal_key].subject
    record = recorder(request.app[store_key], queue.name, asked.reason.strip(), actor)
    discarded = await queue.discard(chosen, record)
    return json_response(Discarded(queue=queue.name, discarded=discarded))


async def dead_letters_ctx(app: web.Application) -> AsyncIterator[None]:
    shared: SharedResult[DeadLettersReport] = SharedResult(REPORT_FRESH_S)
    app[dead_letters_report_key] = shared
    yield
    await shared.close()


async def _report(app: web.Application) -> DeadLettersReport:
    names = Names(app[settings_key].resource_prefix)
    queues = await asyncio.gather(*(_queue_report(app, spec, names) for spec in QUEUES))
    return DeadLettersReport(queues=queues, recent_discards=await recent_discards(app[store_key]))


async def _queue_report(
    app: web.Application, spec: QueueSpec, names: Names
) -> DeadLetterQueueReport:
    queue = DeadLetterQueue(app[aws_key].sqs, spec, names)
    try:
        groups = await asyncio.wait_for(queue.groups(), READ_TIMEOUT_S)
    except Exception as exc:
        logger.warning("could not read %s: %r", queue.name, exc)
        why = reason(exc, READ_TIMEOUT_S)
        return DeadLetterQueueReport(
            queue=queue.name, source_queue=queue.source, count=0, groups=[], error=why
        )
    return DeadLetterQueueReport(
        queue=queue.name,
        source_queue=queue.source,
        count=sum(found.count for found in groups),
        groups=[group_report(found) for found in groups],
    )


def _queue(app: web.Application, name: str) -> DeadLetterQueue:
    names = Names(app[settings_key].resource_prefix)
    try:
        return DeadLetterQueue(app[aws_key].sqs, queue_spec(name, names), names)
    except UnknownQueueError as exc:
        raise not_found(str(exc)) from None


async def _chosen(queue: DeadLetterQueue, asked: Choice) -> set[str]:
    if (asked.group_id is None) == (not asked.message_ids):
        raise bad_request("name either a group_id or some message_ids")
    try:
        return await queue.chosen(Selection(asked.group_id, tuple(asked.message_ids)))
    except NothingChosenError as exc:
        raise not_found(str(exc)) from None
