"""Where `keys ensure` finds the key it may keep and leaves the key it ends with.

Automation owns one key and runs `ensure` every time it starts: the key is kept while it still
works and replaced when it does not (a new database, a revocation). Two holders: the standard
streams (`make up` keeps its key in a file of the checkout) and an AWS Secrets Manager secret
(the cloud's one-off admin task, so the key is never written to a log).
"""

from __future__ import annotations

from typing import Protocol, TextIO

from botocore.exceptions import ClientError
from rich.console import Console

from shared.auth.api_keys import MAX_KEY_CHARS
from shared.aws.clients import aws_client
from shared.settings import Settings

# what Secrets Manager answers for a secret without a value yet, as Terraform creates it
NO_VALUE_YET = "ResourceNotFoundException"


class KeyHolder(Protocol):
    where: str

    async def held(self) -> str:
        """The key held now, as text ("" when none): it may be anything, even not a key."""

    async def hold(self, key: str, *, replaced: bool) -> None:
        """Leave `key` here; `replaced` says whether it differs from what was held."""


class StandardStreams:
    """The key comes in on standard input and goes out on standard output, kept or not, so
    `... < file > file.new && mv file.new file` always leaves the working key in the file."""

    where = "standard output"

    def __init__(self, given: TextIO, out: Console) -> None:
        self._given = given
        self._out = out

    async def held(self) -> str:
        # a key is one short line: anything longer is not one, and is not read to its end
        return self._given.read(MAX_KEY_CHARS + 2).strip()

    async def hold(self, key: str, *, replaced: bool) -> None:
        self._out.file.write(f"{key}\n")


class SecretsManagerSecret:
    """The key is the secret's current value; a new one is put as its new version."""

    def __init__(self, settings: Settings, secret_id: str) -> None:
        self._settings = settings
        self._secret_id = secret_id
        self.where = f"secret {secret_id}"

    async def held(self) -> str:
        async with aws_client(self._settings, "secretsmanager") as client:
            try:
                value = await client.get_secret_value(SecretId=self._secret_id)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == NO_VALUE_YET:
                    return ""
                raise
        return str(value.get("SecretString", "")).strip()

    async def hold(self, key: str, *, replaced: bool) -> None:
        if not replaced:
            return
        async with aws_client(self._settings, "secretsmanager") as client:
            await client.put_secret_value(SecretId=self._secret_id, SecretString=key)
