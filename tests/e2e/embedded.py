"""The embedded stack (`make run`) as a test fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.processes import Service


@pytest.fixture(scope="module")
def embedded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded stack for a test module: SQLite and the transport file in a temp dir."""
    var_dir = tmp_path_factory.mktemp("embedded")
    env = {"VAR_DIR": str(var_dir), "EMBEDDED_AWS_PORT": "0", "SQS_WAIT_TIME_S": "1"}
    service = Service("services.embedded", env, var_dir / "embedded.log")
    service.start()
    try:
        service.wait_healthy()
        yield service.url
    finally:
        exit_code = service.terminate()
    assert exit_code == 0, service.log()
