"""What the load balancer and operators ask a running service, over real sockets.

The load balancer's check (the path in terraform/alb.tf) is liveness: it answers 200 while the
database and the broker are cut, so ECS replaces no task for an outage the service rides out;
readiness says 503 meanwhile. Readiness finds the topic by name once and then asks for it by ARN,
never listing every topic of the account per probe.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from embedded.transport.clients import provision_embedded
from services.calendar_worker.app import create_app as create_worker
from services.job_tracker.app import create_app as create_tracker
from services.todo_api.app import create_app as create_todo_api
from shared.app import readiness
from shared.app.app_keys import metrics_key
from shared.observability.metrics import Metrics
from shared.settings import Settings
from tests.support.environment import POSTGRES_URL
from tests.support.faults import FaultProxy, proxied_url, target_of
from tests.support.terraform import TERRAFORM, Terraform, only

Client = TestClient[web.Request, web.Application]
Factory = Callable[[Settings], web.Application]
READY_PATH = "/api/v1/ready"
PROBES = 5
# the checks' timeout where they must answer: no host stall outlasts it
PATIENT_CHECK_TIMEOUT_S = 15.0
# the services behind the load balancer's target groups (terraform/main.tf, local.public)
BEHIND_THE_LOAD_BALANCER: dict[str, Factory] = {
    "todo_api": create_todo_api,
    "job_tracker": create_tracker,
}
# the services whose readiness asks for the topic (they publish)
PUBLISHERS: dict[str, Factory] = {
    "todo_api": create_todo_api,
    "calendar_worker": create_worker,
}


def load_balancer_check_path() -> str:
    target_group = Terraform(TERRAFORM).resources["aws_lb_target_group", "service"]
    return str(only(target_group["health_check"])["path"])


def closed_url() -> str:
    """A loopback address nothing listens on: a broker that is not there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def database_link() -> Iterator[FaultProxy]:
    with FaultProxy(*target_of(POSTGRES_URL)) as proxy:
        yield proxy


def sns_requests(metrics: Metrics) -> Counter[str]:
    """The SNS requests an app's clients sent, by operation, as its metrics count them."""
    return Counter(
        {
            sample.labels["operation"]: int(sample.value)
            for family in metrics.registry.collect()
            if family.name == "aws_requests"
            for sample in family.samples
            if sample.name == "aws_requests_total" and sample.labels["service"] == "sns"
        }
    )


async def get(client: Client, path: str) -> tuple[int, object]:
    response = await client.get(path)
    return response.status, await response.json()


class TestTheLoadBalancersCheckThroughAnOutage:
    @pytest.mark.parametrize("service", sorted(BEHIND_THE_LOAD_BALANCER))
    async def test_answers_200_with_the_database_and_the_broker_cut_while_readiness_says_503(
        self, service: str, database_link: FaultProxy, postgres_schema: str, tmp_path: Path
    ) -> None:
        settings = Settings(
            database_url=proxied_url(POSTGRES_URL, database_link),
            database_schema=postgres_schema,
            aws_endpoint_url=closed_url(),
            var_dir=tmp_path,
        )
        app = BEHIND_THE_LOAD_BALANCER[service](settings)
        async with TestClient(TestServer(app)) as client:
            database_link.block()

            ready_status, readiness = await get(client, READY_PATH)
            check_status, check = await get(client, load_balancer_check_path())

            database_link.unblock()
        assert ready_status == 503, readiness
        assert (check_status, check) == (200, {"status": "ok"})


class TestReadinessAsksForTheTopicByArn:
    @pytest.fixture(autouse=True)
    def patient_readiness(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(readiness, "CHECK_TIMEOUT_S", PATIENT_CHECK_TIMEOUT_S)

    @pytest.mark.parametrize("service", sorted(PUBLISHERS))
    async def test_repeated_probes_list_the_topics_at_most_once(
        self, service: str, module_topology: Settings, tmp_path: Path
    ) -> None:
        settings = module_topology.model_copy(update={"var_dir": tmp_path})
        app = PUBLISHERS[service](settings.with_embedded_database(service))
        async with TestClient(TestServer(app)) as client:
            # this app's own requests: the process-wide count also has other tests' stray tasks
            metrics = app[metrics_key]
            before = sns_requests(metrics)
            answers = [await get(client, READY_PATH)]
            first = sns_requests(metrics) - before
            answers += [await get(client, READY_PATH) for _ in range(PROBES - 1)]
            made = sns_requests(metrics) - before

        assert all(status == 200 for status, _ in answers), answers
        # the first probe finds the ARN: one ListTopics a page of topics the account holds
        # (the tests' moto holds more than a page of them by the time this runs)
        assert made["ListTopics"] == first["ListTopics"] >= 1, (first, made)
        assert made["GetTopicAttributes"] == PROBES, made

    async def test_the_embedded_transport_answers_the_check(self, tmp_path: Path) -> None:
        settings = Settings(transport="embedded", var_dir=tmp_path)
        await provision_embedded(settings)
        app = create_todo_api(settings.with_embedded_database("todo_api"))
        async with TestClient(TestServer(app)) as client:
            answer = await get(client, READY_PATH)

        assert answer == (200, {"status": "ready", "checks": {"database": "ok", "broker": "ok"}})
