"""Headers on every answer of todo_api that keep its pages to their own files.

The web page (`/`) and the operations page (`/ops`) load only their own scripts and styles from
/static/ (no inline script or style), call only this origin, and may not be framed by any site.
The same policy goes on every answer, so no path, however spelled, serves a page without it;
on JSON and files it costs nothing.
"""

from __future__ import annotations

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # frame-ancestors' predecessor, for browsers that predate it
    "X-Frame-Options": "DENY",
    # a file is what its Content-Type says, never sniffed into a script or a page
    "X-Content-Type-Options": "nosniff",
}


async def send_page_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, errors and static files included, carries them."""
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
