"""`python -m scripts.admin keys ensure`: automation's one key, kept while it works and replaced
where it is held when it does not, on the standard streams (as `make up` keeps its file) and in
a Secrets Manager secret on moto (as the cloud's admin task does)."""

from __future__ import annotations

import uuid
from pathlib import Path

from shared.auth.api_keys import ApiKey, parse_key
from shared.aws.clients import aws_client
from shared.settings import Settings
from tests.support.auth import run_admin
from tests.support.replay_stack import Ran

WANTED = ("--tenant", "local", "--role", "member", "--role", "operator", "--label", "make up")


async def ensure(base: Settings, given: str = "", *extra: str) -> Ran:
    return await run_admin(base, "keys", "ensure", *WANTED, *extra, given=given)


def key_of(ran: Ran) -> ApiKey:
    key = parse_key(ran.out.strip())
    assert ran.status == 0, ran
    assert key is not None, ran.out
    return key


async def test_keeps_a_working_key_and_replaces_any_other(tmp_path: Path) -> None:
    base = Settings(var_dir=tmp_path)

    first = key_of(await ensure(base))
    kept = await ensure(base, f"{first}\n")
    other_tenant = key_of(
        await run_admin(base, "keys", "issue", "--tenant", "acme", "--role", "member",
                        "--role", "operator", "--label", "make up")
    )  # fmt: skip
    fewer_roles = key_of(
        await run_admin(base, "keys", "issue", "--tenant", "local", "--role", "member",
                        "--label", "make up")
    )  # fmt: skip
    replaced = {
        "garbage": await ensure(base, "not a key at all\n"),
        "wrong secret": await ensure(base, f"tok_{first.key_id}_{'x' * 43}"),
        "another tenant": await ensure(base, str(other_tenant)),
        "other roles": await ensure(base, str(fewer_roles)),
    }
    await run_admin(base, "keys", "revoke", first.key_id)
    after_revoke = await ensure(base, str(first))

    assert kept.status == 0, kept
    assert kept.out.strip() == str(first)
    assert f"kept API key {first.key_id}" in kept.err
    assert first.secret not in kept.err
    fresh = [key_of(ran) for ran in (*replaced.values(), after_revoke)]
    assert len({key.key_id for key in fresh} | {first.key_id}) == len(fresh) + 1
    for ran in (*replaced.values(), after_revoke):
        assert "issued API key" in ran.err
        assert key_of(ran).secret not in ran.err


async def test_a_new_database_gets_a_new_key(tmp_path: Path) -> None:
    first = key_of(await ensure(Settings(var_dir=tmp_path / "before")))

    again = key_of(await ensure(Settings(var_dir=tmp_path / "after"), str(first)))

    assert again.key_id != first.key_id


async def test_holds_the_key_in_a_secrets_manager_secret(
    tmp_path: Path, aws_settings: Settings
) -> None:
    base = aws_settings.model_copy(update={"var_dir": tmp_path})
    async with aws_client(aws_settings, "secretsmanager") as client:
        # as Terraform makes it: a secret with no value yet
        made = await client.create_secret(Name=f"first-key-{uuid.uuid4().hex[:8]}")
        secret_id = made["ARN"]

        issued = await ensure(base, "", "--secret-id", secret_id)
        held = parse_key((await client.get_secret_value(SecretId=secret_id))["SecretString"])
        kept = await ensure(base, "", "--secret-id", secret_id)
        versions = await client.list_secret_version_ids(SecretId=secret_id)
        assert held is not None
        await run_admin(base, "keys", "revoke", held.key_id)
        replaced = await ensure(base, "", "--secret-id", secret_id)
        after = parse_key((await client.get_secret_value(SecretId=secret_id))["SecretString"])

    assert issued.status == 0, issued
    # the key goes only to the secret: nothing on the terminal or in a log holds it
    assert issued.out == ""
    assert held.secret not in issued.err
    assert kept.status == 0, kept
    assert f"kept API key {held.key_id}" in kept.err
    assert len(versions["Versions"]) == 1
    assert replaced.status == 0, replaced
    assert after is not None
    assert after.key_id != held.key_id


async def test_a_missing_secret_is_one_line(tmp_path: Path, aws_settings: Settings) -> None:
    base = aws_settings.model_copy(update={"var_dir": tmp_path})

    ran = await ensure(base, "", "--secret-id", "no-such-secret-anywhere")

    assert ran.status == 1
    assert len(ran.err.strip().splitlines()) == 1, ran.err
    assert "keys ensure failed" in ran.err
