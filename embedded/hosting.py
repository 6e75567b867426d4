"""What one process of `make run` hosts: some of the three services, each its own app and
SQLite file, on the embedded transport they all share.

Where todo_api has a process of its own, the tracker's process publishes todo_api's outbox for it
(`todo_api_relay`, nudged by its commits: shared/messaging/relay_nudges.py): the process taking
requests then spends no turn of its loop on publishing. Under a burst of status polls its
relay's turns came late there, and every job waited behind them.

todo_api asks the job tracker in process, whichever process folds the jobs: a status poll is one
HTTP request, not two. Beside the tracker it calls the tracker's own views; in a process without
it, the views of a tracker reader (`create_reader_app`: the tracker's tables, blob store and job
changes, no consumer) on the same database, which hears the folding process's changes for its
event streams. Each service serves its metrics on a port of its own (loopback unless
METRICS_HOST is set): METRICS_PORT (9400 unless set) for todo_api, the next two for job_tracker
and calendar_worker, and the one after them for todo_api's relay where it has a process apart
(METRICS_PORT=0: the OS picks).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from services.calendar_worker.app import create_app as create_worker
from services.edge.app import end_tracker_streams, in_process_tracker, start_without_site
from services.job_tracker.app import create_app as create_tracker
from services.job_tracker.app import create_reader_app as create_tracker_reader
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.app import create_relay_app
from shared.app.app_keys import metrics_url_key
from shared.settings import Settings

# todo_api's metrics port when METRICS_PORT is not set; job_tracker's and calendar_worker's follow
METRICS_PORT = 9400
SERVICES = ("todo_api", "job_tracker", "calendar_worker")
# todo_api's relay, where it runs apart from todo_api (`todo_api_relay`)
RELAY = "todo_api's relay"
METRICS_PORT_OFFSETS = {"todo_api": 0, "job_tracker": 1, "calendar_worker": 2, RELAY: 3}
# the service beside which todo_api's relay runs when todo_api has a process of its own: the
# tracker's process is the least busy under a burst
RELAY_HOST = "job_tracker"
# started before todo_api, which names them
BACKGROUND_FACTORIES = (("job_tracker", create_tracker), ("calendar_worker", create_worker))


@dataclass(frozen=True)
class Address:
    """Where a hosted service answers: its HTTP base URL and its metrics listener's."""

    url: str
    metrics_url: str


def service_settings(base: Settings, service: str, var_dir: Path, port: int) -> Settings:
    """Each service gets its own SQLite file (or shares the PostgreSQL server it is given), and
    its name, which its spans and log lines carry."""
    own = base.with_embedded_database(service, var_dir) if base.is_sqlite else base
    return own.model_copy(
        update={
            "http_port": port,
            "service_name": service,
            # loopback unless METRICS_HOST says otherwise, whatever HTTP_HOST is
            "metrics_host": base.metrics_host or "127.0.0.1",
            "metrics_port": metrics_port(base, service),
        }
    )


def metrics_port(base: Settings, listener: str) -> int:
    """A service's (or RELAY's) metrics port: consecutive from METRICS_PORT, or 0 (any) for
    each."""
    first = METRICS_PORT if base.metrics_port is None else base.metrics_port
    return first + METRICS_PORT_OFFSETS[listener] if first else 0


def relays_todo_api(services: tuple[str, ...]) -> bool:
    """Whether the process hosting `services` publishes todo_api's outbox for todo_api's."""
    return RELAY_HOST in services and "todo_api" not in services


def relay_nudges_path(var_dir: Path) -> Path:
    """Where todo_api's process and its relay's name their nudges (a wake folder beside it)."""
    return var_dir / "todo_api.outbox"


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    # with port 0 the OS picks a free port; the runner knows which
    return runner, int(runner.addresses[0][1])


@contextlib.asynccontextmanager
async def hosting(
    base: Settings, var_dir: Path, services: tuple[str, ...], peers: Mapping[str, Address]
) -> AsyncIterator[dict[str, Address]]:
    """Start `services` (the tracker and the worker before todo_api, which names them) and yield
    where each answers; `peers` are the services hosted elsewhere.
    todo_api listens on HTTP_HOST:HTTP_PORT, the others on a port of loopback the OS picks."""
    runners: list[web.AppRunner] = []
    addresses: dict[str, Address] = {}
    apps: dict[str, web.Application] = {}
    try:
        for service, factory in BACKGROUND_FACTORIES:
            if service in services:
                app = factory(service_settings(base, service, var_dir, 0))
                runner, port = await start_site(app, "127.0.0.1", 0)
                runners.append(runner)
                apps[service] = app
                addresses[service] = Address(f"http://127.0.0.1:{port}", app[metrics_url_key])
        if "todo_api" in services:
            known = {**peers, **addresses}
            tracker_app = apps.get("job_tracker")
            if tracker_app is None:
                tracker_app = create_tracker_reader(
                    service_settings(base, "job_tracker", var_dir, 0)
                )
                runners.append(await start_without_site(tracker_app))
            app = create_todo_api(
                _todo_api_settings(base, var_dir, known),
                tracker=in_process_tracker(tracker_app),
                relay_elsewhere=None if RELAY_HOST in services else relay_nudges_path(var_dir),
            )
            # the tracker's event streams are served on todo_api's port: they end with it
            app.on_shutdown.append(functools.partial(end_tracker_streams, tracker_app))
            runner, port = await start_site(app, base.http_host, base.http_port)
            runners.append(runner)
            addresses["todo_api"] = Address(f"http://{base.http_host}:{port}", app[metrics_url_key])
        yield addresses
    finally:
        # todo_api first: it stops taking requests before what it asks goes away
        for runner in reversed(runners):
            await runner.cleanup()


@contextlib.asynccontextmanager
async def todo_api_relay(
    base: Settings, var_dir: Path, services: tuple[str, ...]
) -> AsyncIterator[str | None]:
    """todo_api's outbox relay, where this process publishes it for todo_api's
    (`relays_todo_api`); yields its metrics URL (None: not here). Enter it once todo_api's process
    is up: that process makes and upgrades the tables the relay reads."""
    if not relays_todo_api(services):
        yield None
        return
    settings = service_settings(base, "todo_api", var_dir, 0).model_copy(
        update={"metrics_port": metrics_port(base, RELAY)}
    )
    app = create_relay_app(settings, relay_nudges_path(var_dir))
    runner = await start_without_site(app)
    try:
        yield app[metrics_url_key]
    finally:
        await runner.cleanup()


def _todo_api_settings(base: Settings, var_dir: Path, known: Mapping[str, Address]) -> Settings:
    return service_settings(base, "todo_api", var_dir, base.http_port).model_copy(
        update={
            "job_tracker_url": known["job_tracker"].url,
            "calendar_worker_url": known["calendar_worker"].url,
            "job_tracker_metrics_url": known["job_tracker"].metrics_url,
            "calendar_worker_metrics_url": known["calendar_worker"].metrics_url,
        }
    )
