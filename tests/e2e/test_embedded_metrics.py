"""`make run`'s metrics: each service on a metrics port of its own, none on the public port, and
the operations page reading the backlog from them."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from embedded.hosting import metrics_port
from shared.settings import Settings
from tests.support.processes import EmbeddedStack


async def test_the_public_port_has_no_metrics_and_the_page_reads_them_from_their_ports(
    embedded_stack: EmbeddedStack,
) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/metrics", "/%6detrics"):
            url = URL(embedded_stack.url + path, encoded=True)
            async with http.get(url) as answer:
                assert answer.status == 404, path
        async with http.get(f"{embedded_stack.url}/api/v1/ops") as answer:
            report = await answer.json()

    backlog = {line["service"]: line["outbox_backlog"] for line in report["services"]}
    # read from todo_api's and calendar_worker's metrics listeners; the tracker has no outbox
    assert backlog == {"todo_api": 0, "job_tracker": None, "calendar_worker": 0}


@pytest.mark.parametrize(
    ("setting", "ports"),
    [(None, (9400, 9401, 9402)), (9500, (9500, 9501, 9502)), (0, (0, 0, 0))],
)
def test_each_service_gets_its_own_metrics_port(
    setting: int | None, ports: tuple[int, ...]
) -> None:
    base = Settings(metrics_port=setting)
    services = ("todo_api", "job_tracker", "calendar_worker")

    assert tuple(metrics_port(base, service) for service in services) == ports
