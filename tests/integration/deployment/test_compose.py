"""docker-compose.yml without a Docker engine: what `make up` would start agrees with the code."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
INIT = "topology"
PUBLIC = "todo-api"
PUBLIC_PORT = 6400
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}
# variables a container may carry that are not settings; none so far, each would need a reason
COMPOSE_ONLY_ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from our Dockerfile: the topology step and the three services."""
    return {name: spec for name, spec in compose["services"].items() if "build" in spec}


@pytest.fixture(scope="module")
def apps(ours: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in ours.items() if name != INIT}


def module_of(spec: dict[str, Any]) -> str:
    command = spec["command"]
    assert command[:2] == ["python", "-m"], command
    return str(command[2])


def env_of(spec: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in spec.get("environment", {}).items()}


def make_recipe(target: str) -> list[str]:
    """The Makefile's recipe lines for `target`, without their leading tab."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line[1:])
    return recipe


def host_of(url: str) -> str:
    return str(urlparse(url.replace("+asyncpg", "")).hostname)


class TestOurContainers:
    def test_are_the_three_services_and_the_topology_step(
        self, ours: dict[str, dict[str, Any]]
    ) -> None:
        assert sorted(module_of(spec) for spec in ours.values()) == [
            "scripts.create_topology",
            "services.calendar_worker",
            "services.edge",
            "services.job_tracker",
        ]

    def test_run_modules_that_exist(self, ours: dict[str, dict[str, Any]]) -> None:
        for spec in ours.values():
            module = module_of(spec)
            package = ROOT / module.replace(".", "/")
            assert (package / "__main__.py").is_file() or package.with_suffix(".py").is_file()

    def test_share_one_image_built_from_the_dockerfile(
        self, ours: dict[str, dict[str, Any]]
    ) -> None:
        assert {spec["build"] for spec in ours.values()} == {"."}
        assert len({spec["image"] for spec in ours.values()}) == 1
        assert (ROOT / "Dockerfile").is_file()

    def test_name_only_settings_the_code_knows(self, ours: dict[str, dict[str, Any]]) -> None:
        for name, spec in ours.items():
            unknown = set(env_of(spec)) - SETTINGS_ENV - set(COMPOSE_ONLY_ENV)
            assert unknown == set(), f"{name} sets {unknown}, which no setting reads"

    def test_give_values_the_settings_model_accepts(self, ours: dict[str, dict[str, Any]]) -> None:
        for spec in ours.values():
            fields = {key.lower(): value for key, value in env_of(spec).items()}
            Settings.model_validate(fields)

    def test_the_topology_step_creates_queues_the_way_the_consumers_read_them(
        self, ours: dict[str, dict[str, Any]], apps: dict[str, dict[str, Any]]
    ) -> None:
        shared = ("AWS_ENDPOINT_URL", "AWS_REGION", "RESOURCE_PREFIX", "SQS_MAX_RECEIVE_COUNT")
        init = env_of(ours[INIT])
        for spec in apps.values():
            env = env_of(spec)
            assert [env.get(key) for key in shared] == [init.get(key) for key in shared]
            assert env["SQS_VISIBILITY_TIMEOUT_S"] == init["SQS_VISIBILITY_TIMEOUT_S"]


class TestStartupOrder:
    def test_the_topology_step_runs_once_after_localstack_is_healthy(
        self, compose: dict[str, Any]
    ) -> None:
        init = compose["services"][INIT]
        assert init["command"][:3] == ["python", "-m", "scripts.create_topology"]
        assert init["restart"] == "no"
        assert init["depends_on"]["localstack"]["condition"] == "service_healthy"
        endpoint = env_of(init)["AWS_ENDPOINT_URL"]
        assert host_of(endpoint) == "localstack"

    def test_every_service_waits_for_the_topology_and_the_database(
        self, apps: dict[str, dict[str, Any]]
    ) -> None:
        for spec in apps.values():
            assert spec["depends_on"][INIT]["condition"] == "service_completed_successfully"
            assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"

    def test_every_host_a_service_talks_to_is_a_healthy_dependency(
        self, compose: dict[str, Any], apps: dict[str, dict[str, Any]]
    ) -> None:
        for spec in apps.values():
            env = env_of(spec)
            urls = [env[key] for key in ("DATABASE_URL", "JOB_TRACKER_URL") if key in env]
            for host in map(host_of, urls):
                assert host in compose["services"]
                assert spec["depends_on"][host]["condition"] == "service_healthy"

    def test_todo_api_reads_the_job_routes_from_job_trackers_tables(
        self, apps: dict[str, dict[str, Any]]
    ) -> None:
        tracker = next(name for name, spec in apps.items() if "job_tracker" in module_of(spec))
        public, tracker_env = env_of(apps[PUBLIC]), env_of(apps[tracker])
        assert module_of(apps[PUBLIC]) == "services.edge"
        assert public["DATABASE_URL"] == tracker_env["DATABASE_URL"]
        assert public["JOB_TRACKER_DATABASE_SCHEMA"] == tracker_env["DATABASE_SCHEMA"]
        # which the operations page probes
        assert host_of(public["JOB_TRACKER_URL"]) == tracker


class TestHealthAndPorts:
    def test_every_long_running_container_has_a_health_check(self, compose: dict[str, Any]) -> None:
        for name, spec in compose["services"].items():
            if name != INIT:
                assert spec["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name

    def test_services_listen_on_the_port_their_health_check_asks(
        self, apps: dict[str, dict[str, Any]]
    ) -> None:
        for spec in apps.values():
            env = env_of(spec)
            port = env["HTTP_PORT"]
            assert env["HTTP_HOST"] == "0.0.0.0"
            assert port in [str(exposed) for exposed in spec["expose"]]
            assert f":{port}/api/v1/" in " ".join(spec["healthcheck"]["test"])

    def test_a_service_counts_as_healthy_once_ready_for_those_that_wait_on_it(
        self, apps: dict[str, dict[str, Any]]
    ) -> None:
        # depends_on: service_healthy waits for the health check: readiness, not mere liveness
        for spec in apps.values():
            [path] = re.findall(r":\d+(/[\w/]+)", " ".join(spec["healthcheck"]["test"]))
            assert path == "/api/v1/ready"
            factory = importlib.import_module(f"{module_of(spec)}.app").create_app
            assert path in {r.canonical for r in factory(Settings()).router.resources()}

    def test_metrics_are_on_a_port_of_their_own_reachable_inside_the_network_only(
        self, apps: dict[str, dict[str, Any]]
    ) -> None:
        for spec in apps.values():
            env = env_of(spec)
            assert env["METRICS_PORT"] != env["HTTP_PORT"]
            assert env["METRICS_PORT"] in [str(exposed) for exposed in spec["expose"]]
            published = [str(port).rsplit(":", 1)[-1] for port in spec.get("ports", [])]
            assert env["METRICS_PORT"] not in published

    def test_the_operations_page_reads_the_others_backlog_on_their_metrics_port(
        self, apps: dict[str, dict[str, Any]]
    ) -> None:
        api = env_of(apps[PUBLIC])
        for setting, module in (
            ("JOB_TRACKER_METRICS_URL", "services.job_tracker"),
            ("CALENDAR_WORKER_METRICS_URL", "services.calendar_worker"),
        ):
            [name] = [name for name, spec in apps.items() if module_of(spec) == module]
            url = urlparse(api[setting])
            assert (url.hostname, str(url.port)) == (name, env_of(apps[name])["METRICS_PORT"])

    def test_every_service_requires_credentials(self, apps: dict[str, dict[str, Any]]) -> None:
        for name, spec in apps.items():
            env = env_of(spec)
            assert env.get("AUTH_MODE") == "required", name
            assert "ALLOW_ANONYMOUS_ACCESS" not in env, name

    def test_make_up_ends_by_keeping_a_key_from_the_public_service(
        self, compose: dict[str, Any]
    ) -> None:
        recipe = make_recipe("up")
        assert recipe[-1] == 'COMPOSE="$(COMPOSE)" scripts/stack_key.sh'
        script = (ROOT / "scripts" / "stack_key.sh").read_text()
        assert f"$COMPOSE exec -T {PUBLIC} python -m scripts.admin keys ensure" in script

    def test_todo_api_is_the_single_base_url_on_port_6400_of_loopback(
        self, compose: dict[str, Any]
    ) -> None:
        published = [str(port) for port in compose["services"][PUBLIC]["ports"]]
        assert published == [f"127.0.0.1:{PUBLIC_PORT}:{PUBLIC_PORT}"]

    def test_localstack_is_pinned_to_an_image_that_needs_no_account(
        self, compose: dict[str, Any]
    ) -> None:
        localstack = compose["services"]["localstack"]
        image, _, tag = localstack["image"].partition(":")
        assert image == "localstack/localstack"
        # 2026.3.0 and later refuse to start without LOCALSTACK_AUTH_TOKEN
        assert re.fullmatch(r"4\.\d+\.\d+", tag), tag
        assert set(localstack["environment"]["SERVICES"].split(",")) == {"sns", "sqs", "s3"}
        assert "/_localstack/health" in " ".join(localstack["healthcheck"]["test"])


class TestImage:
    def test_the_dockerfile_copies_the_code_and_runs_as_a_user(self) -> None:
        dockerfile = (ROOT / "Dockerfile").read_text()
        for folder in ("shared", "services", "scripts"):
            assert f"COPY {folder} ./{folder}" in dockerfile
        assert re.search(r"^USER \S+", dockerfile, re.MULTILINE)
        assert "HEALTHCHECK" in dockerfile

    def test_the_dockerignore_lets_the_code_in(self) -> None:
        ignore = (ROOT / ".dockerignore").read_text().splitlines()
        for kept in ("pyproject.toml", "shared/", "services/", "scripts/"):
            assert f"!{kept}" in ignore


def test_the_topology_step_fails_in_one_line_when_the_endpoint_is_unreachable() -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [sys.executable, "-m", "scripts.create_topology"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("create_topology: cannot reach http://127.0.0.1:9")


def test_the_stack_key_is_kept_until_its_database_is_gone(tmp_path: Path) -> None:
    """scripts/stack_key.sh for real, with the admin command run here instead of in the
    todo-api container: the same key across runs, a new one for a new database, never
    readable by others."""
    shim = tmp_path / "compose"
    # `compose exec -T todo-api CMD...` becomes CMD... on this host's Python
    shim.write_text(f'#!/bin/sh\nshift 3\nshift 1\nexec {sys.executable} "$@"\n')
    shim.chmod(0o755)
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    env = {
        **os.environ,
        "COMPOSE": str(shim),
        "VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DATABASE_URL", None)

    def run() -> str:
        ran = subprocess.run(
            [str(ROOT / "scripts" / "stack_key.sh")],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert "var/stack-api-key" in ran.stdout
        return (checkout / "var" / "stack-api-key").read_text().strip()

    first, kept = run(), run()
    (tmp_path / "var" / "todo_api.db").unlink()
    fresh = run()

    assert first.startswith("tok_")
    assert kept == first
    assert fresh.startswith("tok_")
    assert fresh != first
    assert (checkout / "var" / "stack-api-key").stat().st_mode & 0o077 == 0
    assert not (checkout / "var" / "stack-api-key.new").exists()
