"""Every route the API serves, declared once: its path, the resource that
answers it, and what each method does.  The app adds these routes and
takes their scopes from here (web.app); the contract is generated from
the same list (web.contract).  The contract's own routes are web.docs'."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.commands import CancelOrder, ShipOrder
from domain.streams import ORDER as ORDER_STREAM
from domain.streams import PRODUCT as PRODUCT_STREAM
from web import commands, deadletters, examples, health, inputs, ops, orders, products
from web.bootstrap import WebAdapters
from web.cursors import Cursors
from web.eventschemas import EventSchemas
from web.history import History
from web.metrics import Metrics, ScrapeTime
from web.operations import COMMON, RETRY_AFTER, Command, Operation, Query, json_body, problem
from web.schemas import CODE_PATTERN, CustomerOrdersQuery, ListProductsQuery
from web.stories import EVENT_STREAM, Events
from web.waiting import Slots


@dataclass(frozen=True)
class Parts:
    """What resources are built of: the process's adapters and the app's own
    pieces."""

    adapters: WebAdapters
    cursors: Cursors
    uuidgen: Callable[[], uuid.UUID]
    metrics_token: str | None
    #: the waiting slots ``after=`` and event streams share
    slots: Slots
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Route:
    #: Falcon's template: ``{name:uuid}`` is a UUID, other parameters are
    #: described in ``path_schemas``.
    path: str
    resource: Callable[[Parts], object]
    #: method (lower case) -> what it does, in the contract's order
    operations: Mapping[str, Command | Query | Operation]
    path_schemas: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def template(self) -> str:
        """The path as OpenAPI spells it (no converters)."""
        return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", self.path)

    def path_parameters(self) -> list[dict[str, Any]]:
        parameters = []
        for name, converter in re.findall(r"\{(\w+)(?::(\w+))?\}", self.path):
            schema = {"type": "string", "format": "uuid"} if converter == "uuid" else self.path_schemas[name]
            parameters.append({"in": "path", "name": name, "required": True, "schema": schema})
        return parameters

    def scopes(self) -> dict[str, str | None]:
        """HTTP method -> the scope it needs (``None``: no token); ``HEAD``
        as its ``GET`` (web.routing serves one with the other)."""
        scopes = {method.upper(): operation.scope for method, operation in self.operations.items()}
        if "GET" in scopes:
            scopes.setdefault("HEAD", scopes["GET"])
        return scopes


PRODUCT, ORDER = examples.PRODUCT_ACCEPTED, examples.ORDER_ACCEPTED
PRODUCT_DRY_RUN, ORDER_DRY_RUN = examples.PRODUCT_DRY_RUN, examples.ORDER_DRY_RUN
#: A route refuses a query parameter it does not take (web.inputs.only).
UNKNOWN_PARAMETER = "a query parameter this route does not take"
STATUS = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
LAST_EVENT_ID = {
    "in": "header",
    "name": "Last-Event-ID",
    "required": False,
    "description": "resume after this event (a browser's EventSource sends it when it reconnects)",
    "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"},
}

ROUTES = (
    Route("/products", lambda p: products.Collection(
        p.adapters.command_bus, p.adapters.decisions, p.adapters.product_views, p.cursors, p.uuidgen,
        p.adapters.progress,
    ), {
        "post": Command("Create a product", "products", accepted=PRODUCT, previewed=PRODUCT_DRY_RUN,
                        body="CreateProduct", example=examples.CREATE_PRODUCT),
        "get": Query("List products", "products", "ProductPage", examples.PRODUCT_PAGE, item=False,
                     query=ListProductsQuery),
    }),
    Route("/products/{product_id:uuid}", lambda p: products.Item(
        p.adapters.command_bus, p.adapters.decisions, p.adapters.product_views, p.uuidgen, p.adapters.progress
    ), {
        "get": Query("Read a product", "products", "Product", examples.PRODUCT, item=True),
        "patch": Command("Change a product's details or price (a merge patch)", "products",
                         accepted=PRODUCT, previewed=PRODUCT_DRY_RUN, body="UpdateProduct",
                         example=examples.UPDATE_PRODUCT, media_types=inputs.PATCH_MEDIA_TYPES),
    }),
    Route("/products/{product_id:uuid}/stock-adjustments", lambda p: products.StockAdjustments(
        p.adapters.command_bus, p.adapters.decisions, p.uuidgen
    ), {
        "post": Command("Adjust stock", "products", accepted=PRODUCT, previewed=PRODUCT_DRY_RUN,
                        body="StockAdjustment", example=examples.STOCK_ADJUSTMENT),
    }),
    Route("/products/{product_id:uuid}/history", lambda p: History(p.adapters.history, PRODUCT_STREAM), {
        "get": Query("A product's events", "products", "History", examples.PRODUCT_HISTORY, item=True,
                     scope="admin"),
    }),
    Route("/orders", lambda p: orders.Collection(p.adapters.command_bus, p.adapters.decisions, p.uuidgen), {
        "post": Command("Place an order", "orders", accepted=ORDER, previewed=ORDER_DRY_RUN,
                        body="PlaceOrder", example=examples.PLACE_ORDER),
    }),
    Route("/orders/{order_id:uuid}", lambda p: orders.Item(p.adapters.order_views, p.adapters.progress), {
        "get": Query("Read an order", "orders", "Order", examples.ORDER, item=True),
    }),
    Route("/orders/{order_id:uuid}/cancel", lambda p: orders.Transition(
        CancelOrder, p.adapters.command_bus, p.adapters.decisions, p.uuidgen
    ), {
        "post": Command("Cancel an order (no body)", "orders", accepted=ORDER, previewed=ORDER_DRY_RUN),
    }),
    Route("/orders/{order_id:uuid}/ship", lambda p: orders.Transition(
        ShipOrder, p.adapters.command_bus, p.adapters.decisions, p.uuidgen
    ), {
        "post": Command("Ship an order (no body)", "orders", accepted=ORDER, previewed=ORDER_DRY_RUN),
    }),
    Route("/orders/{order_id:uuid}/history", lambda p: History(p.adapters.history, ORDER_STREAM), {
        "get": Query("An order's events", "orders", "History", examples.ORDER_HISTORY, item=True,
                     scope="admin"),
    }),
    Route("/events/schemas", lambda p: EventSchemas(), {
        "get": Operation("Every event type, each schema version it is stored in, and a JSON Schema of "
                         "each", "events", scope="read", responses={
            "200": json_body("EventCatalogue", "the event catalogue", example=examples.EVENT_CATALOGUE),
            **COMMON,
        }),
    }),
    Route("/customers/{customer_id}/orders", lambda p: orders.CustomerOrders(
        p.adapters.order_views, p.cursors, p.adapters.progress
    ), {
        "get": Query("A customer's orders, newest first", "orders", "OrderPage", examples.ORDER_PAGE,
                     item=False, query=CustomerOrdersQuery),
    }, path_schemas={"customer_id": {"type": "string", "pattern": CODE_PATTERN}}),
    Route("/commands/{command_id:uuid}", lambda p: commands.Item(p.adapters.statuses), {
        "get": Operation("Follow a command", "commands", scope="read", responses={
            "200": json_body("Command", "its status", example=examples.COMMAND),
            "400": problem(UNKNOWN_PARAMETER),
            "404": problem("no such command"),
            **COMMON,
        }),
    }),
    Route("/commands/{command_id:uuid}/events", lambda p: Events(
        p.adapters.statuses, p.adapters.stories, p.adapters.hub, p.slots, clock=p.clock
    ), {
        "get": Operation("Follow a command live: every step of its life, and of the commands it set off, "
                         "as server-sent events", "commands", scope="read", parameters=[LAST_EVENT_ID],
                         responses={
            "200": {
                "description": "the story so far, then each step as it happens, until its end; a story "
                               "that has ended is answered whole",
                "content": {EVENT_STREAM: {"schema": {"type": "string"}, "example": examples.STORY}},
            },
            "204": {"description": "the story ended with the event Last-Event-ID names: nothing follows"},
            "400": problem("Last-Event-ID names no event this stream sent, or " + UNKNOWN_PARAMETER),
            "404": problem("no such command"),
            "503": problem("every waiting slot of this process is taken, or Redis is down", RETRY_AFTER),
            **COMMON,
        }),
    }),
    Route("/health", lambda p: health.Health(), {
        "get": Operation("The process is up (no I/O)", "operations", responses={
            "200": {"description": "up", "content": {"application/json": {"schema": STATUS}}},
        }),
    }),
    Route("/ready", lambda p: health.Ready(p.adapters.ready_checks), {
        "get": Operation("Redis and the store answer within 1 s", "operations", responses={
            "200": {"description": "ready", "content": {"application/json": {"schema": STATUS}}},
            "503": problem("down lists what did not answer", RETRY_AFTER),
        }),
    }),
    Route("/metrics", lambda p: Metrics(ScrapeTime(p.adapters.readings), p.metrics_token), {
        "get": Operation("Prometheus metrics (METRICS_TOKEN as bearer when set)", "operations", responses={
            "200": {
                "description": "Prometheus text",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "401": problem("METRICS_TOKEN is set and was not sent"),
        }),
    }),
    Route("/ops", lambda p: ops.Page(), {
        "get": Operation("The operations page: it asks for an admin token, then polls /ops/data with it",
                         "operations", responses={
            "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
        }),
    }),
    Route("/ops/data", lambda p: ops.Data(
        p.adapters.readings, p.adapters.dead_letters, p.adapters.rebuilds
    ), {
        "get": Operation("Queues, command outcomes, projection lag, dead letters and rebuilds, as read now",
                         "operations", scope="admin", responses={
            "200": json_body("OpsData", "what /metrics reads, as JSON", example=examples.OPS_DATA),
            "400": problem(UNKNOWN_PARAMETER),
            **COMMON,
        }),
    }),
    Route("/dead-letters", lambda p: deadletters.Collection(p.adapters.dead_letters, p.adapters.readings), {
        "get": Operation("The oldest dead letters, and how many there are", "operations", scope="admin",
                         responses={
            "200": json_body("DeadLetters", "the oldest 100 at most", example=examples.DEAD_LETTERS),
            "400": problem(UNKNOWN_PARAMETER),
            **COMMON,
        }),
    }),
    Route("/dead-letters/{letter_id}/retry", lambda p: deadletters.Retry(p.adapters.dead_letters), {
        "post": Operation("Queue a dead letter for a worker to apply again (no body)", "operations",
                          scope="admin", responses={
            "202": json_body("RetryQueued", "queued; the letter goes once a worker applies it",
                             example=examples.RETRY_QUEUED),
            "400": problem(UNKNOWN_PARAMETER),
            "404": problem("no such dead letter"),
            **COMMON,
        }),
    }, path_schemas={"letter_id": {"type": "string", "pattern": deadletters.LETTER_ID_PATTERN}}),
)  # fmt: skip
