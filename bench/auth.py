"""What authentication costs a request: the same todo reads and writes on `make run`'s stack
with AUTH_MODE=none, with an API key and with an OIDC token, each mode in turn, round after round,
so that the ratios compare runs of the same minutes."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.jobs import timed
from bench.stacks import embedded_stack
from shared.settings import Settings
from tests.support.auth import bearer, issue_key
from tests.support.oidc_issuer import AUDIENCE, LocalIssuer, running_issuer

REQUESTS = 2000
CONCURRENCY = 32
ROUNDS = 3
MODES = ("none", "API key", "OIDC token")
# a credential for a stack: None for AUTH_MODE=none
Credential = Callable[[Path], Awaitable[str | None]]


@dataclass(frozen=True)
class Rates:
    gets_per_s: float
    creates_per_s: float
    # the service process's CPU per get: unlike a rate, what other load on the host leaves alone
    cpu_ms_per_get: float


async def auth_costs() -> list[str]:
    """One line per mode: median gets/s, creates/s and CPU per get over ROUNDS, each beside
    AUTH_MODE=none's."""
    rates: dict[str, list[Rates]] = {mode: [] for mode in MODES}
    async with running_issuer() as issuer:
        for _ in range(ROUNDS):
            for mode in MODES:
                rates[mode].append(await _rates(_settings(mode, issuer), _credential(mode, issuer)))
    base = _medians(rates["none"])
    lines = []
    for mode in MODES:
        found = _medians(rates[mode])
        added_ms = found.cpu_ms_per_get - base.cpu_ms_per_get
        lines.append(
            f"  {mode:<10} get todo {found.gets_per_s:5.0f} req/s "
            f"({found.gets_per_s / base.gets_per_s:.2f} of none), "
            f"{found.cpu_ms_per_get:.2f} ms CPU per get ({added_ms:+.2f}), "
            f"create todo {found.creates_per_s:4.0f} req/s "
            f"({found.creates_per_s / base.creates_per_s:.2f} of none)"
        )
    return lines


def _settings(mode: str, issuer: LocalIssuer) -> dict[str, str]:
    if mode == "none":
        return {}
    # what authentication costs, not what the write limit refuses: REQUESTS creates per key
    required = {"AUTH_MODE": "required", "RATE_LIMIT_WRITES_PER_MINUTE": "0"}
    if mode == "API key":
        return required
    return required | {
        "OIDC_ISSUER": issuer.url,
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_JWKS_URL": issuer.jwks_url,
    }


def _credential(mode: str, issuer: LocalIssuer) -> Credential:
    async def credential(var_dir: Path) -> str | None:
        if mode == "none":
            return None
        if mode == "OIDC token":
            return issuer.token()
        todo_api = Settings(var_dir=var_dir).with_embedded_database("todo_api", var_dir)
        return str(await issue_key(todo_api, tenant="bench"))

    return credential


async def _rates(settings: dict[str, str], credential: Credential) -> Rates:
    """Gets of one todo and creates, REQUESTS each, CONCURRENCY at a time: requests/s."""
    async with embedded_stack(settings=settings) as stack:
        assert stack.var_dir is not None
        given = await credential(stack.var_dir)
        headers = {} if given is None else bearer(given)
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def create(number: int) -> None:
                body = {"title": f"Auth {number}"}
                async with session.post(f"{stack.url}/api/v1/todos", json=body) as response:
                    response.raise_for_status()

            async def get() -> None:
                async with session.get(f"{stack.url}/api/v1/todos/1") as response:
                    response.raise_for_status()
                    await response.read()

            create_s = await timed(CONCURRENCY, [create(n) for n in range(REQUESTS)])
            cpu_before = sum(stack.cpu_seconds().values())
            get_s = await timed(CONCURRENCY, [get() for _ in range(REQUESTS)])
            cpu_s = sum(stack.cpu_seconds().values()) - cpu_before
    return Rates(REQUESTS / get_s, REQUESTS / create_s, cpu_s / REQUESTS * 1000)


def _medians(rates: list[Rates]) -> Rates:
    return Rates(
        statistics.median(r.gets_per_s for r in rates),
        statistics.median(r.creates_per_s for r in rates),
        statistics.median(r.cpu_ms_per_get for r in rates),
    )
