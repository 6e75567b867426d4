"""`make run`: the whole system in one process, on SQLite and the embedded transport.

The topic and queues live in `<VAR_DIR>/transport.db` and blobs under `<VAR_DIR>/blobs/`; moto,
in server mode on loopback, serves only the practical's two demo queues. With TRANSPORT=aws the
services use SNS/SQS/S3 on that moto instead, the topology bootstrapped there, or on
AWS_ENDPOINT_URL when it is set (LocalStack, for instance). todo_api (the
public base URL), job_tracker and calendar_worker run in one event loop, each with its own
SQLite file. Each serves its metrics on a port of its own (loopback unless METRICS_HOST is set):
METRICS_PORT (9400 unless set) for todo_api, the next two for job_tracker and calendar_worker
(METRICS_PORT=0: the OS picks all three).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from embedded.transport.clients import provision_embedded, transport_path
from services.calendar_worker.app import create_app as create_worker
from services.job_tracker import in_flight as tracker_in_flight
from services.job_tracker import job_events as tracker_job_events
from services.job_tracker import ops_views as tracker_ops_views
from services.job_tracker import views as tracker_views
from services.job_tracker.app import create_app as create_tracker
from services.todo_api.app import create_app as create_todo_api
from services.todo_api.in_process_tracker import InProcessTracker
from shared.app.app_keys import metrics_url_key
from shared.app.heap import freeze_long_lived
from shared.auth.exposure import refuse_anonymous_exposure
from shared.aws.clients import aws_client
from shared.aws.demo_queues import DEMO_QUEUE_NAMES, ensure_queue
from shared.messaging.provisioning import bootstrap
from shared.observability.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings

logger = logging.getLogger("embedded")
AppFactory = Callable[[Settings], web.Application]
# todo_api's metrics port when METRICS_PORT is not set; job_tracker's and calendar_worker's follow
METRICS_PORT = 9400
METRICS_PORT_OFFSETS = {"todo_api": 0, "job_tracker": 1, "calendar_worker": 2}


def start_aws_emulator(port: int) -> str:
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request the emulator serves
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return f"http://{host}:{bound}"


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


def metrics_port(base: Settings, service: str) -> int:
    """The service's metrics port: consecutive from METRICS_PORT, or 0 (any) for each."""
    first = METRICS_PORT if base.metrics_port is None else base.metrics_port
    return first + METRICS_PORT_OFFSETS[service] if first else 0


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    # with port 0 the OS picks a free port; the runner knows which
    return runner, int(runner.addresses[0][1])


async def prepare_messaging(base: Settings, aws_port: int) -> Settings:
    """Create the topology where the services will find it; return their settings.

    TRANSPORT=aws with AWS_ENDPOINT_URL (LocalStack, say) uses that endpoint for everything;
    otherwise an emulator is started here for the practical's queue demo (and, with
    TRANSPORT=aws, for the services too).
    """
    if base.transport == "aws" and base.aws_endpoint_url:
        await _demo_queues(base)
        await bootstrap(base)
        logger.info("SNS/SQS/S3 at %s", base.aws_endpoint_url)
        return base
    endpoint = start_aws_emulator(aws_port)
    emulated = base.model_copy(update={"aws_endpoint_url": endpoint})
    # the queue demo talks SQS on the wire, whichever transport the services use
    await _demo_queues(emulated)
    if base.transport == "embedded":
        await provision_embedded(base)
        logger.info("embedded transport in %s; demo queues at %s", transport_path(base), endpoint)
        return base
    await bootstrap(emulated)
    logger.info("AWS emulator at %s", endpoint)
    return emulated


async def _demo_queues(settings: Settings) -> None:
    async with aws_client(settings, "sqs") as sqs:
        for name in DEMO_QUEUE_NAMES:
            await ensure_queue(sqs, name)


async def run(base: Settings, var_dir: Path, aws_port: int) -> None:
    base = await prepare_messaging(base, aws_port)
    tracker_app = create_tracker(service_settings(base, "job_tracker", var_dir, 0))
    tracker, tracker_port = await start_site(tracker_app, "127.0.0.1", 0)
    worker_app = create_worker(service_settings(base, "calendar_worker", var_dir, 0))
    worker, worker_port = await start_site(worker_app, "127.0.0.1", 0)
    api_settings = service_settings(base, "todo_api", var_dir, base.http_port).model_copy(
        update={
            "job_tracker_url": f"http://127.0.0.1:{tracker_port}",
            "calendar_worker_url": f"http://127.0.0.1:{worker_port}",
            "job_tracker_metrics_url": tracker_app[metrics_url_key],
            "calendar_worker_metrics_url": worker_app[metrics_url_key],
        }
    )
    # one process: the public port answers the job routes from the tracker's own tables
    api_app = create_todo_api(api_settings, tracker=in_process_tracker(tracker_app))
    # the tracker's event streams are served on todo_api's port: they end with its shutdown
    api_app.on_shutdown.append(functools.partial(_end_tracker_streams, tracker_app))
    api, api_port = await start_site(api_app, base.http_host, base.http_port)
    runners = [api, worker, tracker]
    freeze_long_lived()
    logger.info("embedded mode: databases under %s", var_dir)
    metrics = (app[metrics_url_key] for app in (api_app, tracker_app, worker_app))
    logger.info("metrics of todo_api, job_tracker, calendar_worker: %s", ", ".join(metrics))
    logger.info("TaskOverflow is up at http://%s:%d  (Ctrl-C stops it)", base.http_host, api_port)
    try:
        await _until_stopped()
    finally:
        for runner in runners:
            await runner.cleanup()
        logger.info("stopped")


def in_process_tracker(tracker_app: web.Application) -> InProcessTracker:
    """todo_api's Tracker port answered by `tracker_app`'s own views, in this process."""
    return InProcessTracker(
        status_view=functools.partial(tracker_views.job_status, tracker_app),
        result_view=functools.partial(tracker_views.job_result, tracker_app),
        events_view=functools.partial(tracker_job_events.job_events, tracker_app),
        history_view=functools.partial(tracker_views.job_history, tracker_app),
        in_flight_view=functools.partial(tracker_in_flight.jobs_in_flight, tracker_app),
        overview_of=functools.partial(tracker_ops_views.overview_of, tracker_app),
    )


async def _end_tracker_streams(tracker_app: web.Application, _api_app: web.Application) -> None:
    tracker_job_events.end_streams(tracker_app)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main() -> None:
    base = Settings.from_env()
    refuse_anonymous_exposure(base)
    # `make run` uses the embedded transport unless TRANSPORT=aws asks for SNS/SQS/S3 on moto
    if "TRANSPORT" not in os.environ:
        base = base.model_copy(update={"transport": "embedded"})
    configure_logging(base)
    configure_tracing(base)
    var_dir = base.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    aws_port = int(os.environ.get("EMBEDDED_AWS_PORT", "4566"))
    asyncio.run(run(base.model_copy(update={"var_dir": var_dir}), var_dir, aws_port))
