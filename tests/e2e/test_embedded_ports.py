"""`make run` on a port something else holds (a second `make run`, say): it ends at once with exit
code 1 and a message naming the setting to change, where it once waited forever for the demo
queues' endpoint."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import Service, free_port

# far beyond a start on a stalled host: a run that has not ended by then hangs
EXIT_WITHIN_S = 120


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def embedded(tmp_path: Path, port: int | None = None, **settings: str) -> Service:
    env = {"TRANSPORT": "embedded", "VAR_DIR": str(tmp_path / "var"), "METRICS_PORT": "0"}
    log = tmp_path / "embedded.log"
    if port is None:
        return Service("embedded", {**env, **settings}, log)
    return Service("embedded", {**env, **settings}, log, port=port)


def run_until_it_ends(service: Service) -> int:
    service.start()
    assert service.process is not None
    try:
        return service.process.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        service.kill()
        pytest.fail(f"`make run` still running {EXIT_WITHIN_S} s on: {service.log()}")


def test_a_taken_emulator_port_ends_the_run_naming_its_setting(
    tmp_path: Path, taken_port: int
) -> None:
    service = embedded(tmp_path, EMBEDDED_AWS_PORT=str(taken_port))

    assert run_until_it_ends(service) == 1
    assert f"EMBEDDED_AWS_PORT {taken_port}" in service.log()
    assert "Traceback" not in service.log()


def test_a_free_emulator_port_is_where_the_demo_queues_answer(tmp_path: Path) -> None:
    port = free_port()
    service = embedded(tmp_path, EMBEDDED_AWS_PORT=str(port))
    service.start()
    try:
        service.wait_healthy()
        assert f"demo queues at http://127.0.0.1:{port}" in service.log()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        assert service.terminate() == 0


def test_a_taken_http_port_ends_the_run(tmp_path: Path, taken_port: int) -> None:
    service = embedded(tmp_path, port=taken_port, EMBEDDED_AWS_PORT="0")

    assert run_until_it_ends(service) == 1
    assert f"('127.0.0.1', {taken_port})" in service.log()
