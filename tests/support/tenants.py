"""Two tenants side by side, as the tenancy tests use them: their principals for the records port,
and todo_api as each tenant's member calls it over HTTP (AUTH_MODE=required, one API key each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse

from shared.auth.api_keys import ApiKey
from shared.auth.principal import Principal
from shared.settings import Settings
from tests.support.auth import bearer, issue_key
from tests.support.todo_http import Client

ACME = Principal(tenant="acme", subject="api-key:acme0001", roles=frozenset({"member"}))
GLOBEX = Principal(tenant="globex", subject="api-key:globex01", roles=frozenset({"member"}))


@dataclass(frozen=True)
class Member:
    """todo_api as one tenant's member calls it: every request with the member's API key."""

    client: Client
    key: ApiKey
    tenant: str

    @property
    def actor(self) -> str:
        """The actor the member's events name (shared/auth/api_keys.py)."""
        return f"api-key:{self.key.key_id}"

    async def request(self, method: str, path: str, **options: Any) -> ClientResponse:
        headers = {**bearer(self.key), **options.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **options)

    async def get(self, path: str, **options: Any) -> ClientResponse:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> ClientResponse:
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Any) -> ClientResponse:
        return await self.request("PUT", path, **options)

    async def delete(self, path: str, **options: Any) -> ClientResponse:
        return await self.request("DELETE", path, **options)


async def member_of(tenant: str, client: Client, settings: Settings) -> Member:
    """A member of `tenant` with a key issued into the database of `client`'s todo_api (started
    already, so its tables are made)."""
    key = await issue_key(settings, roles=["member"], tenant=tenant)
    return Member(client, key, tenant)
