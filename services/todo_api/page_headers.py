"""Headers on every answer of todo_api that keep its pages to their own files.

The web page (`/`), the operations page (`/ops`) and the documentation page (`/api/docs`) load
only their own scripts and styles from /static/ (no inline script or style), call only this
origin, and may not be framed by any site.
The same policy goes on every answer, so no path, however spelled, serves a page without it;
on JSON and files it costs nothing.
"""

from __future__ import annotations

from aiohttp import web

DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in DIRECTIVES.items())
# the documentation page (/api/docs) alone: Swagger UI's stylesheet draws its icons as data: URIs
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    f"{name} {value}" for name, value in {**DIRECTIVES, "img-src": "'self' data:"}.items()
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
