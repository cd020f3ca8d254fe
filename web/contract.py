"""The published contract: an OpenAPI 3.1 document generated from the route
table (web.routes) and the request and response schemas (apispec's
marshmallow plugin).  web.docs serves it."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from web import responses, schemas
from web.routes import ROUTES

#: The request bodies under their names in the contract's components.
REQUESTS = {
    "CreateProduct": schemas.CreateProductSchema,
    "UpdateProduct": schemas.UpdateProductSchema,
    "StockAdjustment": schemas.StockAdjustmentSchema,
    "PlaceOrder": schemas.PlaceOrderSchema,
}


def document(openapi_version: str = "3.1.0") -> dict[str, Any]:
    """A fresh copy of the contract (callers may change theirs)."""
    return json.loads(document_bytes(openapi_version))


@cache
def document_bytes(openapi_version: str = "3.1.0") -> bytes:
    return json.dumps(_build(openapi_version)).encode()


def _build(openapi_version: str) -> dict[str, Any]:
    """The contract; ``3.0.3`` gives the same content for tools (such as the
    bundled Swagger UI 4) that read only OpenAPI 3.0."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="shop",
        version="0.1.0",
        openapi_version=openapi_version,
        plugins=[plugin],
        info={
            "description": "A product catalog and orders, built as CQRS over a MongoDB event store. "
            "Every GET route answers HEAD with the same status and headers."
        },
    )
    plugin.map_to_openapi_type(schemas.Bool, "boolean", None)
    plugin.map_to_openapi_type(schemas.QueryInt, "integer", None)
    spec.components.security_scheme(
        "bearer",
        {"type": "http", "scheme": "bearer", "description": "API_TOKENS; scopes read < write < admin"},
    )
    for name, schema in {**responses.COMPONENTS, **REQUESTS}.items():
        spec.components.schema(name, schema=schema)
    for route in ROUTES:
        spec.path(
            route.template,
            parameters=route.path_parameters() or None,
            operations={method: operation.render() for method, operation in route.operations.items()},
        )
    built = spec.to_dict()
    for operations in built["paths"].values():
        if "get" in operations:
            operations["head"] = _headers_only(operations["get"])
    return built


def _headers_only(get: dict[str, Any]) -> dict[str, Any]:
    """``HEAD`` as web.routing serves it: the ``GET``'s statuses and headers,
    no body."""
    head = json.loads(json.dumps(get))
    head["summary"] = f"{get['summary']}: the headers only"
    for response in head["responses"].values():
        response.pop("content", None)
    return head
