"""Run one service's app from the environment: `python -m services.<name>`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from shared.app.heap import freeze_on_startup
from shared.auth.exposure import refuse_anonymous_exposure
from shared.aws.clients import REQUESTS
from shared.observability.logs import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import Settings

logger = logging.getLogger(__name__)


def serve(create_app: Callable[[Settings], web.Application], *, service: str) -> None:
    """Run `service` until SIGINT or SIGTERM (SERVICE_NAME, when set, renames it)."""
    settings = Settings.from_env()
    refuse_anonymous_exposure(settings)
    if "service_name" not in settings.model_fields_set:
        settings = settings.model_copy(update={"service_name": service})
    configure_logging(settings)
    configure_tracing(settings)
    app = create_app(settings)
    app.on_startup.append(freeze_on_startup)
    # run_app handles SIGINT and SIGTERM: stop accepting, run cleanup contexts, exit 0
    web.run_app(
        app,
        host=settings.http_host,
        port=settings.http_port,
        print=None,
        # requests in flight get this long to finish before the cleanup contexts run
        shutdown_timeout=10,
    )
    counts = json.dumps(dict(sorted(REQUESTS.items())))
    logger.info("AWS requests sent: %s", counts)
    if settings.aws_requests_file:
        Path(settings.aws_requests_file).write_text(counts)
