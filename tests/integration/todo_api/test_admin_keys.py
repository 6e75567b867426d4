"""`python -m scripts.admin keys issue|list|revoke` end to end on the embedded layout (a SQLite
file under VAR_DIR), against a todo_api that requires credentials and runs meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from services.todo_api.app import create_app
from shared.auth.api_keys import parse_key, secret_hash
from shared.settings import Settings
from tests.support.auth import bearer, run_admin
from tests.support.todo_http import TODOS


def columns(listing: str) -> list[list[str]]:
    return [line.split("\t") for line in listing.strip().splitlines()]


async def test_issue_use_list_and_revoke(tmp_path: Path, module_topology: Settings) -> None:
    base = Settings(var_dir=tmp_path)
    api = module_topology.model_copy(update={"auth_mode": "required"})
    api = api.with_embedded_database("todo_api", tmp_path)

    # before the service has ever run: the tool makes its tables
    issued = await run_admin(
        base, "keys", "issue", "--tenant", "acme", "--role", "member", "--role", "operator",
        "--label", "nightly export",
    )  # fmt: skip
    key = parse_key(issued.out.strip())
    assert issued.status == 0, issued
    assert key is not None, issued.out
    assert "not shown again" in issued.err
    assert key.secret not in issued.err

    async with TestClient(TestServer(create_app(api))) as client:
        used = await client.get(TODOS, headers=bearer(key))
        listed = await run_admin(base, "keys", "list")
        revoked = await run_admin(base, "keys", "revoke", key.key_id)
        refused = await client.get(TODOS, headers=bearer(key))
    after = await run_admin(base, "keys", "list")
    again = await run_admin(base, "keys", "revoke", key.key_id)

    assert used.status == 200
    assert listed.status == 0, listed
    header, row = columns(listed.out)
    assert header == ["id", "tenant", "roles", "label", "created", "last used", "revoked"]
    assert row[:4] == [key.key_id, "acme", "member,operator", "nightly export"]
    assert row[5] != "-"
    assert row[6] == "-"
    assert secret_hash(key.secret) not in listed.out
    assert key.secret not in listed.out
    assert (revoked.status, revoked.out.strip()) == (0, f"API key {key.key_id} revoked")
    assert refused.status == 401
    assert columns(after.out)[1][6] != "-"
    assert (again.status, again.out.strip()) == (0, f"API key {key.key_id} was already revoked")


async def test_mistakes_are_one_line_with_an_exit_status(tmp_path: Path) -> None:
    base = Settings(var_dir=tmp_path)

    nothing_yet = await run_admin(base, "keys", "list")
    bad_role = await run_admin(
        base, "keys", "issue", "--tenant", "acme", "--role", "owner", "--label", "x"
    )
    no_label = await run_admin(base, "keys", "issue", "--tenant", "acme", "--role", "member")
    empty_tenant = await run_admin(
        base, "keys", "issue", "--tenant", " ", "--role", "member", "--label", "x"
    )
    anonymous = await run_admin(
        base, "keys", "issue", "--tenant", "anonymous", "--role", "member", "--label", "x"
    )
    unknown = await run_admin(base, "keys", "revoke", "zzzzzzzz")

    assert nothing_yet.status == 1
    assert "no database" in nothing_yet.err
    assert bad_role.status == 2
    assert "owner" in bad_role.err
    assert no_label.status == 2
    assert "--label" in no_label.err
    assert empty_tenant.status == 2
    assert "tenant" in empty_tenant.err
    assert anonymous.status == 2
    assert "'anonymous' is reserved for AUTH_MODE=none" in anonymous.err
    assert (unknown.status, unknown.err.strip()) == (
        1,
        "keys revoke failed: no API key 'zzzzzzzz'",
    )
    for ran in (nothing_yet, bad_role, no_label, empty_tenant, anonymous, unknown):
        assert len(ran.err.strip().splitlines()) == 1, ran


def test_the_module_runs_as_a_program(tmp_path: Path) -> None:
    env = {**os.environ, "VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)

    def admin(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scripts.admin", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    issued = admin("keys", "issue", "--tenant", "acme", "--role", "member", "--label", "ci")
    listed = admin("keys", "list")

    key = parse_key(issued.stdout.strip())
    assert issued.returncode == 0, issued.stderr
    assert key is not None, issued.stdout
    assert (tmp_path / "todo_api.db").is_file()
    assert listed.returncode == 0
    assert key.key_id in listed.stdout
    assert key.secret not in listed.stdout
