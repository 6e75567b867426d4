"""The route table every app declares its routes in (`Route`, `add_routes`), and the OpenAPI 3.1
document generated from a table and its pydantic models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.web.http import Handler

REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Query:
    """A parameter of the query string, or with `where="header"` a request header."""

    name: str
    description: str
    schema: dict[str, Any]
    where: str = "query"


@dataclass(frozen=True)
class Route:
    """One operation: the URL table and the OpenAPI document both read it."""

    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    # status -> response model, a media type string for non-JSON bodies, or a description
    # for answers without a body (304)
    responses: dict[int, type[BaseModel] | str] = field(default_factory=dict)
    query: Sequence[Query] = ()
    # a GET that HEAD also reaches (aiohttp's allow_head)
    head: bool = False

    def __post_init__(self) -> None:
        if self.head and self.method != "GET":
            raise ValueError(f"only a GET answers HEAD too: {self.method} {self.path}")


def add_routes(app: web.Application, routes: Sequence[Route]) -> None:
    for route in routes:
        if route.head:
            app.router.add_get(route.path, route.handler, allow_head=True)
        else:
            app.router.add_route(route.method, route.path, route.handler)


def openapi_document(title: str, version: str, routes: Sequence[Route]) -> dict[str, Any]:
    models = _models(routes)
    _, schemas = models_json_schema(models, ref_template=REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def _models(routes: Sequence[Route]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Request bodies as they are validated, responses as they are written."""
    found: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {}
    for route in routes:
        if route.body is not None:
            found[route.body.__name__] = (route.body, "validation")
        for kind in route.responses.values():
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found.setdefault(kind.__name__, (kind, "serialization"))
    return list(found.values())


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{_slug(route.path)}",
        "parameters": _parameters(route),
        "responses": {str(status): _response(kind) for status, kind in route.responses.items()},
    }
    if route.body is not None:
        ref = {"$ref": REF_TEMPLATE.format(model=route.body.__name__)}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref}},
        }
    return operation


def _parameters(route: Route) -> list[dict[str, Any]]:
    path_params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    query_params = [
        {"name": q.name, "in": q.where, "description": q.description, "schema": q.schema}
        for q in route.query
    ]
    return path_params + query_params


def _response(kind: type[BaseModel] | str) -> dict[str, Any]:
    """A model is a JSON body, a media type another body, any other text a bodiless answer."""
    if isinstance(kind, str):
        return (
            {"description": kind, "content": {kind: {}}} if "/" in kind else {"description": kind}
        )
    ref = {"$ref": REF_TEMPLATE.format(model=kind.__name__)}
    return {
        "description": kind.__doc__ or kind.__name__,
        "content": {"application/json": {"schema": ref}},
    }


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
