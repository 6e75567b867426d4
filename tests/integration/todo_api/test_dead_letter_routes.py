"""todo_api's dead letters routes on the embedded transport: the groups and one message, a
redrive at a rate followed to its end, a discard recorded in the log as the principal's, and a
JSON 4xx for every request that names nothing or is malformed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from embedded.transport.clients import provision_embedded
from services.todo_api.app import create_app
from shared.clock import utcnow
from shared.contracts.topology import JOB_TRACKER, Names
from shared.messaging.dead_letters.failures import failure_attributes
from shared.messaging.dead_letters.grouping import group_id
from shared.messaging.transports import transport_client
from shared.settings import Settings
from tests.support.factories import calendar_envelope, calendar_requested
from tests.support.polling import eventually

Client = TestClient[web.Request, web.Application]
BASE = "/api/v1/ops/dead-letters"
DLQ = Names("").dlq(JOB_TRACKER)
QUEUE = Names("").queue(JOB_TRACKER)


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    chosen = Settings(transport="embedded", var_dir=tmp_path).with_embedded_database("todo_api")
    await provision_embedded(chosen)
    return chosen


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings))) as opened:
        yield opened


@pytest.fixture
async def sqs(settings: Settings) -> AsyncIterator[Any]:
    async with transport_client(settings, "sqs") as opened:
        yield opened


async def plant(sqs: Any, requested: int, junk: int) -> None:
    url = (await sqs.get_queue_url(QueueName=DLQ))["QueueUrl"]
    failed = failure_attributes("RuntimeError", utcnow(), 5)
    bodies = [calendar_envelope(calendar_requested()).to_json() for _ in range(requested)]
    bodies += [f"junk {n}" for n in range(junk)]
    entries = [
        {"Id": str(n), "MessageBody": body, "MessageAttributes": failed}
        for n, body in enumerate(bodies)
    ]
    for start in range(0, len(entries), 10):
        await sqs.send_message_batch(QueueUrl=url, Entries=entries[start : start + 10])


async def visible(sqs: Any, name: str) -> int:
    url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    found = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(found["Attributes"]["ApproximateNumberOfMessages"])


async def groups_of(client: Client) -> dict[str, dict[str, Any]]:
    report = await (await client.get(BASE)).json()
    tracker = next(queue for queue in report["queues"] if queue["queue"] == DLQ)
    return {group["event_type"]: group for group in tracker["groups"]}


class TestReading:
    async def test_groups_and_one_message_in_full(self, client: Client, sqs: Any) -> None:
        await plant(sqs, requested=3, junk=2)

        groups = await groups_of(client)
        one = groups["CalendarRequested"]["message_ids"][0]
        shown = await client.get(f"{BASE}/message", params={"queue": DLQ, "message_id": one})
        missing = await client.get(f"{BASE}/message", params={"queue": DLQ, "message_id": "no"})
        unnamed = await client.get(f"{BASE}/message", params={"queue": DLQ})

        assert {kind: group["count"] for kind, group in groups.items()} == {
            "CalendarRequested": 3,
            "?": 2,
        }
        assert groups["CalendarRequested"]["group_id"] == group_id(
            "CalendarRequested", "RuntimeError"
        )
        assert shown.status == 200
        letter = await shown.json()
        assert letter["envelope"]["type"] == "CalendarRequested"
        assert letter["receive_count"] == 5
        assert letter["attributes"]["failure"] == "RuntimeError"
        assert (missing.status, unnamed.status) == (404, 400)
        assert "error" in await missing.json()
        assert "error" in await unnamed.json()


class TestActions:
    async def test_a_group_redriven_at_a_rate_is_followed_to_its_end(
        self, client: Client, sqs: Any
    ) -> None:
        await plant(sqs, requested=6, junk=1)
        chosen = group_id("CalendarRequested", "RuntimeError")

        started = await client.post(
            f"{BASE}/redrives", json={"queue": DLQ, "group_id": chosen, "rate": 5}
        )

        assert started.status == 202
        state = await started.json()
        assert (state["total"], state["state"]) == (6, "running")

        async def finished() -> bool:
            runs = (await (await client.get(f"{BASE}/redrives")).json())["redrives"]
            return bool(runs[0]["state"] == "finished")

        await eventually(finished, timeout_s=20, interval_s=0.1)
        runs = (await (await client.get(f"{BASE}/redrives")).json())["redrives"]
        assert (runs[0]["moved"], runs[0]["refused"], runs[0]["missing"]) == (6, 0, 0)
        assert await visible(sqs, QUEUE) == 6
        assert set(await groups_of(client)) == {"?"}

    async def test_a_discard_is_recorded_as_the_principals_with_the_reason(
        self, client: Client, sqs: Any
    ) -> None:
        await plant(sqs, requested=1, junk=2)
        junk = (await groups_of(client))["?"]

        answer = await client.post(
            f"{BASE}/discards",
            json={"queue": DLQ, "group_id": junk["group_id"], "reason": "  test junk  "},
        )
        report = await (await client.get(BASE)).json()

        assert answer.status == 200
        assert await answer.json() == {"queue": DLQ, "discarded": 2}
        assert set(await groups_of(client)) == {"CalendarRequested"}
        discards = report["recent_discards"]
        assert {d["message_id"] for d in discards} == set(junk["message_ids"])
        assert {(d["reason"], d["actor"], d["failure"]) for d in discards} == {
            ("test junk", "anonymous", "RuntimeError")
        }

    @pytest.mark.parametrize(
        ("path", "body", "status"),
        [
            ("redrives", {"queue": DLQ, "rate": 5}, 400),
            ("redrives", {"queue": DLQ, "group_id": "x", "message_ids": ["y"], "rate": 5}, 400),
            ("redrives", {"queue": DLQ, "group_id": "x", "rate": 0}, 400),
            ("redrives", {"queue": DLQ, "group_id": "x", "rate": 501}, 400),
            ("redrives", {"queue": DLQ, "group_id": "x", "rate": 5, "extra": 1}, 400),
            ("redrives", {"queue": "no-such-dlq", "group_id": "x", "rate": 5}, 404),
            ("redrives", {"queue": DLQ, "group_id": "not-there", "rate": 5}, 404),
            ("redrives", [1, 2], 400),
            ("discards", {"queue": DLQ, "group_id": "x", "reason": ""}, 400),
            ("discards", {"queue": DLQ, "group_id": "x"}, 400),
            ("discards", {"queue": DLQ, "reason": "why"}, 400),
            ("discards", {"queue": DLQ, "message_ids": ["gone"], "reason": "why"}, 404),
        ],
    )
    async def test_a_request_naming_nothing_or_malformed_is_a_json_4xx(
        self, client: Client, sqs: Any, path: str, body: Any, status: int
    ) -> None:
        await plant(sqs, requested=1, junk=0)

        answer = await client.post(f"{BASE}/{path}", json=body)

        assert answer.status == status
        assert "error" in await answer.json()
        assert await visible(sqs, DLQ) == 1

    async def test_a_body_that_is_not_json_is_refused(self, client: Client) -> None:
        answer = await client.post(f"{BASE}/discards", data="queue=x")
        broken = await client.post(
            f"{BASE}/discards", data="{", headers={"Content-Type": "application/json"}
        )

        assert answer.status == 415
        assert broken.status == 400
