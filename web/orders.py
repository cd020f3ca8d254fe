"""``/orders`` and ``/customers/{id}/orders``: placing, cancelling and
shipping orders (commands) and reading them (queries)."""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import UUID

import falcon

from domain.commands import CancelOrder, PlaceOrder, ShipOrder
from infra.messages import CommandEnvelope
from infra.mongo import ORDERS
from web import freshness, inputs
from web.accepting import accept
from web.cursors import Cursors, page_after
from web.ports import CommandSubmitter, OrderReadModel, StreamProgress
from web.problems import Problem
from web.schemas import CustomerOrdersQuery, PlaceOrderSchema

CUSTOMER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")


def not_found(what: str) -> Problem:
    return Problem(falcon.HTTP_404, title="Not Found", detail=f"no {what}")


class Collection:
    """``POST /orders`` queues ``PlaceOrder``.  The order starts ``pending``;
    the process manager then asks each product to reserve its line."""

    def __init__(self, commands: CommandSubmitter, uuidgen: Callable[[], UUID]):
        self._commands = commands
        self._uuidgen = uuidgen
        self._schema = PlaceOrderSchema()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields, sent = inputs.body(req, self._schema)
        order_id, command_id = str(self._uuidgen()), str(self._uuidgen())
        lines = [
            {"product_id": str(line["product_id"]), "quantity": line["quantity"]} for line in fields["lines"]
        ]
        command = PlaceOrder(
            order_id=order_id, customer_id=fields["customer_id"], currency=fields["currency"], lines=lines
        )
        envelope = CommandEnvelope.wrap(command, command_id=command_id)
        response = {"command_id": command_id, "status": "accepted", "order_id": order_id}
        accept(req, resp, self._commands, envelope, response, sent)


class Item:
    """``GET /orders/{id}``."""

    read_model = "order"

    def __init__(self, views: OrderReadModel, progress: StreamProgress | None = None):
        self._views = views
        self._progress = progress

    def on_get(self, req: falcon.Request, resp: falcon.Response, order_id: UUID) -> None:
        order = self._views.get(str(order_id))
        if order is None:
            raise not_found(f"order {order_id}")
        freshness.describe(req, resp, self._progress, [order], collection=ORDERS)
        if freshness.describe_item(req, resp, order["version"], stuck=bool(order.get("stuck"))):
            resp.status = falcon.HTTP_304
            return
        resp.media = order


class Transition:
    """``POST /orders/{id}/cancel`` and ``/ship``: no body (any sent is
    ignored), no ``Content-Type`` needed."""

    def __init__(
        self,
        command: type[CancelOrder] | type[ShipOrder],
        commands: CommandSubmitter,
        uuidgen: Callable[[], UUID],
    ):
        self._command = command
        self._commands = commands
        self._uuidgen = uuidgen

    def on_post(self, req: falcon.Request, resp: falcon.Response, order_id: UUID) -> None:
        command_id = str(self._uuidgen())
        envelope = CommandEnvelope.wrap(self._command(order_id=str(order_id)), command_id=command_id)
        response = {"command_id": command_id, "status": "accepted", "order_id": str(order_id)}
        accept(req, resp, self._commands, envelope, response, sent=None)


class CustomerOrders:
    """``GET /customers/{customer_id}/orders``: newest first, by cursor."""

    read_model = "order"

    def __init__(self, views: OrderReadModel, cursors: Cursors, progress: StreamProgress | None = None):
        self._views = views
        self._cursors = cursors
        self._progress = progress
        self._query = CustomerOrdersQuery()

    def on_get(self, req: falcon.Request, resp: falcon.Response, customer_id: str) -> None:
        if not CUSTOMER_ID.match(customer_id):
            raise not_found(f"customer {customer_id!r}")
        params = inputs.query(req, self._query)
        query = {"customer_id": customer_id, "status": params.get("status")}
        after = page_after(self._cursors, params, query)
        page = self._views.for_customer(customer_id, params.get("status"), params["limit"], after)
        freshness.describe(req, resp, self._progress, page.items, collection=ORDERS)
        resp.media = {
            "items": page.items,
            "next_cursor": self._cursors.encode(query, page.last) if page.last is not None else None,
        }
