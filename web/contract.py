"""The published contract: an OpenAPI 3.1 document generated from the
request schemas (apispec's marshmallow plugin) and the response schemas
below, and an interactive page for it (Swagger UI, from the
``swagger-ui-bundle`` package: no CDN)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import falcon
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from web import examples, inputs, schemas

# --- response bodies -----------------------------------------------------------------------


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class AcceptedSchema(Schema):
    command_id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"enum": ["accepted"]})


class ProductAcceptedSchema(AcceptedSchema):
    product_id = fields.UUID(required=True)


class OrderAcceptedSchema(AcceptedSchema):
    order_id = fields.UUID(required=True)


class CommandErrorSchema(Schema):
    code = fields.String(required=True)
    detail = fields.String(required=True)


class CommandSchema(Schema):
    command_id = fields.UUID(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["accepted", "succeeded", "rejected", "failed"]})
    submitted_at = fields.String(required=True, metadata={"format": "date-time"})
    completed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    stream_id = fields.String(required=True)
    version = fields.Integer(required=True, allow_none=True)
    error = fields.Nested(CommandErrorSchema, required=True, allow_none=True)


class ProductSchema(Schema):
    id = fields.UUID(required=True)
    sku = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True, allow_none=True)
    category = fields.String(required=True, allow_none=True)
    price_cents = fields.Integer(required=True)
    currency = fields.String(required=True)
    stock_available = fields.Integer(required=True)
    stock_reserved = fields.Integer(required=True)
    version = fields.Integer(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    updated_at = fields.String(required=True, metadata={"format": "date-time"})
    stuck = fields.Boolean(
        metadata={"description": "present (true) while a dead letter holds the document up"}
    )


class ProductPageSchema(Schema):
    items = fields.List(fields.Nested(ProductSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class OrderLineViewSchema(Schema):
    product_id = fields.UUID(required=True)
    sku = fields.String(required=True, allow_none=True)
    name = fields.String(required=True, allow_none=True)
    quantity = fields.Integer(required=True)
    unit_price_cents = fields.Integer(required=True, allow_none=True)
    line_total_cents = fields.Integer(required=True, allow_none=True)
    status = fields.String(
        required=True, metadata={"enum": ["pending", "reserved", "refused", "released", "shipped"]}
    )
    reason = fields.String(required=True, allow_none=True)


class OrderSchema(Schema):
    id = fields.UUID(required=True)
    customer_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(schemas.ORDER_STATUSES)})
    currency = fields.String(required=True)
    lines = fields.List(fields.Nested(OrderLineViewSchema), required=True)
    total_cents = fields.Integer(required=True, allow_none=True)
    version = fields.Integer(required=True)
    placed_at = fields.String(required=True, metadata={"format": "date-time"})
    updated_at = fields.String(required=True, metadata={"format": "date-time"})
    stuck = fields.Boolean()


class OrderPageSchema(Schema):
    items = fields.List(fields.Nested(OrderSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class EventSchema(Schema):
    type = fields.String(required=True)
    version = fields.Integer(required=True)
    data = fields.Dict(required=True)
    recorded_at = fields.String(required=True, metadata={"format": "date-time"})
    command_id = fields.String(required=True)


class HistorySchema(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)


class AfterQuery(Schema):
    after = fields.UUID(metadata={"description": "wait for this command's effect (see Prefer: wait)"})


# --- the document -----------------------------------------------------------------------


def _header(description: str, type_: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": type_}}


FRESHNESS = {
    "Read-Model-Updated-At": _header("newest applied event among what is returned (RFC 3339)"),
    "Read-Model-Lag": _header("seconds behind the newest committed event; 0 when caught up"),
    "Read-Model-Stale": _header("true when after= ran out of time, or a document is held up"),
    "Preference-Applied": _header("wait=<seconds> used for after="),
}
ITEM = {
    **FRESHNESS,
    "ETag": _header("the document's version"),
    "Read-Model-Version": _header("the document's version"),
}


def _problem(description: str, headers: dict | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


RETRY_AFTER = {"Retry-After": _header("seconds to wait before trying again", "integer")}
COMMON = {
    "401": _problem("no token, or an unknown one", {"WWW-Authenticate": _header("Bearer")}),
    "403": _problem("the token's scope is too small"),
    "405": _problem("method not allowed", {"Allow": _header("the methods the route allows")}),
    "503": _problem("Redis or MongoDB did not answer", RETRY_AFTER),
    # Answered by gunicorn (web.gunicorn_worker), before the app sees the request.
    "414": _problem("the request line is over 8190 bytes"),
    "431": _problem("over 100 header fields, or one over 8190 bytes"),
}


def _json(schema: str, description: str, headers: dict | None = None, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    if example is not None:
        media["example"] = example
    response: dict[str, Any] = {"description": description, "content": {"application/json": media}}
    if headers:
        response["headers"] = headers
    return response


def _command(
    body: str | None,
    summary: str,
    tag: str,
    *,
    accepted: dict[str, Any],
    example: dict[str, Any] | None = None,
    media_types: tuple[str, ...] = (inputs.JSON,),
) -> dict[str, Any]:
    """A command route: ``accepted`` is its 202 example, whose id names the
    schema (``ProductAccepted`` or ``OrderAccepted``)."""
    unsupported = f"the body is not {' or '.join(media_types)}"
    if media_types == inputs.PATCH_MEDIA_TYPES:
        refused = _problem(unsupported, {"Accept-Patch": _header("the media types a PATCH may use")})
    else:
        refused = _problem(unsupported)
    operation: dict[str, Any] = {
        "tags": [tag],
        "summary": summary,
        "security": [{"bearer": ["write"]}],
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "retry safely: the same key and request within 24 h get the first 202 again",
            }
        ],
        "responses": {
            "202": _json(
                "ProductAccepted" if "product_id" in accepted else "OrderAccepted",
                "queued; follow it at Location",
                {
                    "Location": _header("/commands/{command_id}"),
                    "Idempotent-Replayed": _header("true on a replay"),
                },
                accepted,
            ),
            "400": _problem("malformed JSON or Idempotency-Key"),
            "404": _problem("not a route, or an id that is not a UUID"),
            "409": _problem(
                "the first request with this Idempotency-Key is still being accepted", RETRY_AFTER
            ),
            "413": _problem("the body is over 64 KiB"),
            "415": refused,
            "422": _problem("the body breaks a rule (errors names each field)"),
            **COMMON,
            "503": _problem(
                "Redis or MongoDB did not answer, and nothing was queued; or, titled Outcome Unknown, "
                "Redis went away while queueing: command_id and Location name the command, whose "
                "status tells whether it was queued (404: it was not)",
                {**RETRY_AFTER, "Location": _header("/commands/{command_id}, when the outcome is unknown")},
            ),
        },
    }
    if body is not None:
        media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{body}"}}
        if example is not None:
            media["example"] = example
        operation["requestBody"] = {"required": True, "content": {t: media for t in media_types}}
    return operation


def _query(
    schema: str,
    summary: str,
    tag: str,
    *,
    item: bool,
    example: dict[str, Any],
    query: type[Schema] = AfterQuery,
    scope="read",
):
    responses: dict[str, Any] = {
        "200": _json(schema, "the read model's answer", ITEM if item else FRESHNESS, example),
        "400": _problem("a query parameter is unknown or malformed (errors names it)"),
        "404": _problem("not found"),
        **COMMON,
    }
    if item:
        responses["304"] = {
            "description": "not modified since If-None-Match",
            "headers": {"ETag": ITEM["ETag"]},
        }
    parameters: list[dict[str, Any]] = [
        {"in": "query", "schema": query},
        {
            "in": "header",
            "name": "Prefer",
            "schema": {"type": "string"},
            "description": "wait=<seconds>, at most 10",
        },
    ]
    if item:
        parameters.append({"in": "header", "name": "If-None-Match", "schema": {"type": "string"}})
    return {
        "tags": [tag],
        "summary": summary,
        "security": [{"bearer": [scope]}],
        "parameters": parameters,
        "responses": responses,
    }


def _id(name: str) -> dict[str, Any]:
    return {"in": "path", "name": name, "required": True, "schema": {"type": "string", "format": "uuid"}}


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
    for name, schema in {
        "Problem": ProblemSchema,
        "ProductAccepted": ProductAcceptedSchema,
        "OrderAccepted": OrderAcceptedSchema,
        "Command": CommandSchema,
        "Product": ProductSchema,
        "ProductPage": ProductPageSchema,
        "Order": OrderSchema,
        "OrderPage": OrderPageSchema,
        "History": HistorySchema,
        "CreateProduct": schemas.CreateProductSchema,
        "UpdateProduct": schemas.UpdateProductSchema,
        "StockAdjustment": schemas.StockAdjustmentSchema,
        "PlaceOrder": schemas.PlaceOrderSchema,
    }.items():
        spec.components.schema(name, schema=schema)

    product, order = examples.PRODUCT_ACCEPTED, examples.ORDER_ACCEPTED
    spec.path("/products", operations={
        "post": _command("CreateProduct", "Create a product", "products", accepted=product,
                         example=examples.CREATE_PRODUCT),
        "get": _query("ProductPage", "List products", "products", item=False,
                      example=examples.PRODUCT_PAGE, query=schemas.ListProductsQuery),
    })  # fmt: skip
    spec.path("/products/{product_id}", parameters=[_id("product_id")], operations={
        "get": _query("Product", "Read a product", "products", item=True, example=examples.PRODUCT),
        "patch": _command("UpdateProduct", "Change a product's details or price (a merge patch)",
                          "products", accepted=product, example=examples.UPDATE_PRODUCT,
                          media_types=inputs.PATCH_MEDIA_TYPES),
    })  # fmt: skip
    spec.path("/products/{product_id}/stock-adjustments", parameters=[_id("product_id")], operations={
        "post": _command("StockAdjustment", "Adjust stock", "products", accepted=product,
                         example=examples.STOCK_ADJUSTMENT),
    })  # fmt: skip
    spec.path("/products/{product_id}/history", parameters=[_id("product_id")], operations={
        "get": _query("History", "A product's events", "products", item=True,
                      example=examples.PRODUCT_HISTORY, scope="admin"),
    })  # fmt: skip
    spec.path("/orders", operations={
        "post": _command("PlaceOrder", "Place an order", "orders", accepted=order,
                         example=examples.PLACE_ORDER),
    })  # fmt: skip
    spec.path("/orders/{order_id}", parameters=[_id("order_id")], operations={
        "get": _query("Order", "Read an order", "orders", item=True, example=examples.ORDER),
    })  # fmt: skip
    for action in ("cancel", "ship"):
        spec.path(f"/orders/{{order_id}}/{action}", parameters=[_id("order_id")], operations={
            "post": _command(None, f"{action.capitalize()} an order (no body)", "orders", accepted=order),
        })  # fmt: skip
    spec.path("/orders/{order_id}/history", parameters=[_id("order_id")], operations={
        "get": _query("History", "An order's events", "orders", item=True,
                      example=examples.ORDER_HISTORY, scope="admin"),
    })  # fmt: skip
    customer = {
        "in": "path",
        "name": "customer_id",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    }
    spec.path("/customers/{customer_id}/orders", parameters=[customer], operations={
        "get": _query("OrderPage", "A customer's orders, newest first", "orders", item=False,
                      example=examples.ORDER_PAGE, query=schemas.CustomerOrdersQuery),
    })  # fmt: skip
    spec.path("/commands/{command_id}", parameters=[_id("command_id")], operations={
        "get": {
            "tags": ["commands"],
            "summary": "Follow a command",
            "security": [{"bearer": ["read"]}],
            "responses": {
                "200": _json("Command", "its status", example=examples.COMMAND),
                "404": _problem("no such command"),
                **COMMON,
            },
        },
    })  # fmt: skip
    status = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
    spec.path("/health", operations={"get": {
        "tags": ["operations"], "summary": "The process is up (no I/O)", "security": [],
        "responses": {"200": {"description": "up", "content": {"application/json": {"schema": status}}}},
    }})  # fmt: skip
    spec.path("/ready", operations={"get": {
        "tags": ["operations"], "summary": "Redis and the store answer within 1 s", "security": [],
        "responses": {
            "200": {"description": "ready", "content": {"application/json": {"schema": status}}},
            "503": _problem("down lists what did not answer", RETRY_AFTER),
        },
    }})  # fmt: skip
    spec.path("/metrics", operations={"get": {
        "tags": ["operations"], "summary": "Prometheus metrics (METRICS_TOKEN as bearer when set)",
        "security": [],
        "responses": {
            "200": {
                "description": "Prometheus text",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "401": _problem("METRICS_TOKEN is set and was not sent"),
        },
    }})  # fmt: skip
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


DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop API</title>
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/docs/openapi-3.0.json", dom_id: "#ui"});</script>
</body></html>"""


class OpenAPI:
    """``GET /openapi.json``: the contract (no token needed)."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = document_bytes()
        resp.content_type = "application/json"


class DocsDocument:
    """The same contract as OpenAPI 3.0, for the bundled Swagger UI 4."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = document_bytes("3.0.3")
        resp.content_type = "application/json"


class Docs:
    """``GET /docs``: Swagger UI on the contract, served from a Python package."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = DOCS_PAGE


def swagger_ui_folder() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


class DocsAsset:
    """The Swagger UI files the page loads (its icon too, so that no browser
    asks for a /favicon.ico), and nothing else of the bundle."""

    public = True
    ASSETS = {
        "swagger-ui.css": "text/css",
        "swagger-ui-bundle.js": "application/javascript",
        "favicon-32x32.png": "image/png",
    }

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset: str) -> None:
        if asset not in self.ASSETS:
            raise falcon.HTTPNotFound()
        resp.content_type = self.ASSETS[asset]
        resp.data = (swagger_ui_folder() / asset).read_bytes()
        resp.cache_control = ["public", "max-age=86400"]


def install(app: falcon.App) -> None:
    app.add_route("/openapi.json", OpenAPI())
    app.add_route("/docs", Docs())
    app.add_route("/docs/openapi-3.0.json", DocsDocument())
    app.add_route("/docs/static/{asset}", DocsAsset())
