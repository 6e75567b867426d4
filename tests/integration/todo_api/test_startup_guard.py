"""A todo_api process told to listen beyond loopback with AUTH_MODE=none stops at once with one
line, before it opens anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_process_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    env = {
        **{name: value for name, value in os.environ.items() if name not in {"AUTH_MODE"}},
        "HTTP_HOST": "0.0.0.0",
        "ALLOW_ANONYMOUS_ACCESS": "false",
        # nothing listens here: a process that went on would fail differently, much later
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/never.db",
    }

    ran = subprocess.run(
        [sys.executable, "-m", "services.todo_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines() == [
        "refusing to listen on 0.0.0.0 with AUTH_MODE=none: anyone who can reach it would act "
        "as the anonymous tenant; set AUTH_MODE=required, HTTP_HOST=127.0.0.1, or "
        "ALLOW_ANONYMOUS_ACCESS=true if that is meant"
    ]
    assert not (tmp_path / "never.db").exists()
