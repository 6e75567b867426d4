"""Run services as real processes with their own environment; stop them with SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
# what a service process is told of a stack's settings (the rest are its defaults)
SERVICE_FIELDS = frozenset(
    {
        "transport",
        "var_dir",
        "aws_endpoint_url",
        "resource_prefix",
        "database_url",
        "database_schema",
        "sqs_wait_time_s",
        "sqs_visibility_timeout_s",
        "sqs_max_receive_count",
        "auth_mode",
        "log_level",
    }
)
STOP_TIMEOUT_S = 20.0
# where Linux takes a client socket's local port from
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# a chosen port is at least this, clear of well-known services' ports
FIRST_CHOSEN_PORT = 20000
PORT_PROBES = 50
# `make run`: every service in one command, each listener on its own port
EMBEDDED_MODULE = "embedded"


def service_env(settings: Settings) -> dict[str, str]:
    """The environment of a service process: the stack's settings, as Settings reads them."""
    values = settings.model_dump(include=set(SERVICE_FIELDS), exclude_none=True)
    return {name.upper(): str(value) for name, value in values.items()}


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants still running (Linux /proc), parents before their children."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except FileNotFoundError:
            continue
        for child in children:
            found += process_tree(int(child))
    return found


# every port free_port gave out in this session: two services built before either binds would
# otherwise both find the same port free, and a stopped one's may not be released yet
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port free now, below the kernel's ephemeral range (no client socket's connect
    can take it before the service binds it), and never one handed out before in this session."""
    low_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0]) if EPHEMERAL_RANGE.exists() else 0
    below = [port for port in range(FIRST_CHOSEN_PORT, low_ephemeral) if port not in _HANDED_OUT]
    for port in random.sample(below, k=min(PORT_PROBES, len(below))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as probe:  # no such range here, or it is used up: one the OS picks
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    module: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    stopping: bool = False

    def metrics_port_setting(self) -> str:
        """METRICS_PORT for the process. `make run` takes it as the first of several consecutive
        ports, and only the first was found free (its neighbours are often a client socket's by
        then), so it gets 0: each of its listeners on a port the OS picks."""
        return "0" if self.module == EMBEDDED_MODULE else str(self.metrics_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Its metrics listener (a service's own; `make run` picks its listeners' ports)."""
        assert self.module != EMBEDDED_MODULE, "make run's metrics ports are its own to pick"
        return f"http://127.0.0.1:{self.metrics_port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "METRICS_PORT": self.metrics_port_setting(),
            **self.env,
            "HTTP_PORT": str(self.port),
            "HTTP_HOST": "127.0.0.1",
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], cwd=ROOT, env=env, stdout=log, stderr=log
            )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited at start:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.module} not healthy in {START_TIMEOUT_S}s:\n{self.log()}")

    def request_stop(self) -> None:
        # one SIGTERM only: a second one asks the service to give up its graceful shutdown
        if self.process is not None and self.process.poll() is None and not self.stopping:
            self.process.send_signal(signal.SIGTERM)
            self.stopping = True

    def terminate(self) -> int:
        """SIGTERM, then wait: the exit code of a graceful shutdown is 0."""
        assert self.process is not None
        self.request_stop()
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -9

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@dataclass
class Stack:
    """The three services, each its own process, sharing one database and broker."""

    api: Service
    tracker: Service
    worker: Service
    settings: Settings

    @property
    def base_url(self) -> str:
        return self.api.url

    @property
    def services(self) -> list[Service]:
        return [self.api, self.tracker, self.worker]


@dataclass(frozen=True)
class EmbeddedStack:
    """`make run` in one process: its URL and the folder of its SQLite files and blobs."""

    url: str
    var_dir: Path
