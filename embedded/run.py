"""`make run`: the whole system on SQLite and the embedded transport, one command.

The topic and queues live in `<VAR_DIR>/transport.db` and blobs under `<VAR_DIR>/blobs/`; moto,
in server mode on loopback, serves only the practical's two demo queues. With TRANSPORT=aws the
services use SNS/SQS/S3 on that moto instead, the topology bootstrapped there, or on
AWS_ENDPOINT_URL when it is set (LocalStack, for instance). todo_api (the public base URL),
job_tracker and calendar_worker each have their own SQLite file; they run in this process's one
event loop, or in EMBEDDED_PROCESSES child processes under this one (embedded/processes.py).
What one process hosts is embedded/hosting.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from embedded.hosting import SERVICES, hosting
from embedded.processes import LAYOUTS, run_processes
from embedded.transport.clients import provision_embedded, transport_path
from shared.app.heap import freeze_long_lived
from shared.auth.exposure import refuse_anonymous_exposure
from shared.aws.clients import aws_client
from shared.aws.demo_queues import DEMO_QUEUE_NAMES, ensure_queue
from shared.messaging.provisioning import bootstrap
from shared.observability.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings

logger = logging.getLogger("embedded")
# connections the demo queues' endpoint lets wait to be accepted (socketserver's default is 5)
LISTEN_BACKLOG = 128


class PortTakenError(Exception):
    """A port `make run` is told to listen on is taken (another `make run`, say)."""


def start_aws_emulator(port: int) -> str:
    """moto in server mode on loopback, serving from a thread; its URL.

    The socket is bound here, by this module: moto's ThreadedMotoServer binds inside its thread
    and, when the port is taken, waits forever for a server that never comes (and werkzeug, left
    to bind, exits the process with a message that names no setting)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    # werkzeug logs every request the emulator serves
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    with _listening_socket(port) as listening:
        # werkzeug serves on a duplicate of the descriptor
        server = make_server(
            "127.0.0.1",
            port,
            app,
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=listening.fileno(),
        )
    threading.Thread(target=server.serve_forever, name="aws-emulator", daemon=True).start()
    bound = server.socket.getsockname()[1]
    return f"http://127.0.0.1:{bound}"


def _listening_socket(port: int) -> socket.socket:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # as werkzeug's own servers: a port left in TIME_WAIT by the last run is free to take
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("127.0.0.1", port))
        listening.listen(LISTEN_BACKLOG)
    except OSError as exc:
        listening.close()
        raise PortTakenError(
            f"EMBEDDED_AWS_PORT {port} (the demo queues' SQS endpoint) cannot be listened on: "
            f"{exc.strerror or exc}. Is another `make run` up? Stop it, or set EMBEDDED_AWS_PORT "
            "to a free port (0: any)"
        ) from None
    return listening


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


async def run(base: Settings, var_dir: Path, aws_port: int) -> int:
    """The whole system, in this process or in EMBEDDED_PROCESSES of them; the exit status."""
    base = await prepare_messaging(base, aws_port)
    logger.info("embedded mode: databases under %s", var_dir)
    layout = LAYOUTS[base.embedded_processes]
    if len(layout) > 1:
        return await run_processes(base, var_dir, layout)
    async with hosting(base, var_dir, SERVICES, {}) as addresses:
        freeze_long_lived()
        metrics = ", ".join(addresses[service].metrics_url for service in SERVICES)
        logger.info("metrics of todo_api, job_tracker, calendar_worker: %s", metrics)
        logger.info("TaskOverflow is up at %s  (Ctrl-C stops it)", addresses["todo_api"].url)
        await _until_stopped()
    logger.info("stopped")
    return 0


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
    try:
        status = asyncio.run(run(base.model_copy(update={"var_dir": var_dir}), var_dir, aws_port))
    except PortTakenError as taken:
        logger.error("%s", taken)
        status = 1
    sys.exit(status)
