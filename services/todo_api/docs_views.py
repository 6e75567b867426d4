"""The documentation page (`/api/docs`): the OpenAPI document in Swagger UI and the AsyncAPI
document of the messaging, both served by this app; Swagger UI's files come from the
swagger-ui-py package, so nothing is loaded from another host."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from aiohttp import web

from services.todo_api.page_headers import DOCS_CONTENT_SECURITY_POLICY
from shared.contracts.asyncapi import asyncapi_document
from shared.web.http import Handler, json_response

DOCS_PAGE = Path(__file__).parent / "static" / "docs.html"
DOCS_PATH = "/api/docs"
ASYNCAPI_PATH = "/api/asyncapi.json"
SWAGGER_UI_PREFIX = "/static/swagger-ui"
# the files Swagger UI's own page would load
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")


def swagger_ui_dir() -> Path:
    """Where the swagger-ui-py package keeps Swagger UI's dist files; found without importing the
    package, whose framework glue this app does not use."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    missing = [name for name in SWAGGER_UI_FILES if not (static / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-py has no {', '.join(missing)} in {static}")
    return static


async def docs_page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        DOCS_PAGE, headers={"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY}
    )


def asyncapi_view() -> Handler:
    """The document is made once: it depends on the code alone."""
    document = asyncapi_document()

    async def serve(_request: web.Request) -> web.Response:
        return json_response(document)

    return serve
