"""A service's metrics on a listener of their own (METRICS_HOST:METRICS_PORT).

The public listener has no /metrics route at all, so no spelling of the path (`/%6detrics`,
`//metrics`, `/api/../metrics`) reaches them there, whatever a load balancer's rule matches.
The metrics listener answers GET /metrics and nothing else; it is meant to be reachable only
inside the network (compose's network, the VPC's scrapers).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from shared.app.app_keys import metrics_key, metrics_url_key, settings_key
from shared.observability.metrics import Metrics, metrics_view
from shared.web.http import json_errors
from shared.web.openapi import Route, add_routes

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


def metrics_app(metrics: Metrics) -> web.Application:
    """GET /metrics of `metrics`, errors as JSON like every other answer."""
    app = web.Application(middlewares=[json_errors])
    scrape = Route("GET", METRICS_PATH, metrics_view(metrics), "Prometheus scrape", head=True)
    add_routes(app, [scrape])
    return app


async def metrics_listener_ctx(app: web.Application) -> AsyncIterator[None]:
    """Serve the app's metrics on METRICS_PORT while the app runs (none when it is unset)."""
    settings = app[settings_key]
    if settings.metrics_port is None:
        yield
        return
    host = settings.metrics_host or settings.http_host
    # scrapes come every few seconds: not worth an access log line each
    runner = web.AppRunner(metrics_app(app[metrics_key]), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, settings.metrics_port).start()
        # with port 0 the OS picks one; the runner knows which
        port = int(runner.addresses[0][1])
        app[metrics_url_key] = f"http://{_reachable(host)}:{port}"
        logger.info("metrics at http://%s:%d%s", host, port, METRICS_PATH)
        yield
    finally:
        await runner.cleanup()


def _reachable(host: str) -> str:
    """The address this process reaches a listener bound to `host` at."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return "[::1]" if address.is_unspecified else f"[{host}]"
    return "127.0.0.1" if address.is_unspecified else host
