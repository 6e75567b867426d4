"""The ports the suite gives its service processes: clear of the ones client sockets take."""

import socket
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.processes import EPHEMERAL_RANGE, FIRST_CHOSEN_PORT, Service, free_port


def test_a_chosen_port_is_below_the_ephemeral_range_and_free() -> None:
    low_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    for _ in range(20):
        port = free_port()
        assert FIRST_CHOSEN_PORT <= port < low_ephemeral
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", port))


def test_ports_handed_out_before_any_is_bound_are_all_different(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stack's services are all built before the first binds: a port found free twice would
    start one of them on a taken port (a thousand random picks would repeat one almost surely)."""
    monkeypatch.setattr(processes, "_HANDED_OUT", set())
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)


def test_make_run_picks_its_own_metrics_ports(tmp_path: Path) -> None:
    """It would take the given port's neighbours too, which nobody found free."""
    assert Service("embedded", {}, tmp_path / "log").metrics_port_setting() == "0"
    service = Service("services.todo_api", {}, tmp_path / "log")
    assert service.metrics_port_setting() == str(service.metrics_port)
