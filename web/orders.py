"""``/orders`` and ``/customers/{id}/orders``: placing, cancelling and
shipping orders (commands) and reading them (queries)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import falcon

from domain.commands import CancelOrder, PlaceOrder, ShipOrder
from domain.streams import ORDER
from infra.messages import CommandEnvelope
from infra.mongo import ORDERS
from web import freshness, inputs, responses, waiting
from web.accepting import accept
from web.cursors import Cursors, page_after
from web.ports import CommandPreview, CommandSubmitter, OrderReadModel, StreamProgress
from web.problems import not_found
from web.schemas import CUSTOMER_ID, CustomerOrdersQuery, PlaceOrderSchema


def accepted(command_id: str, order_id: str) -> dict[str, str]:
    """The 202's body for an order's command."""
    return responses.ORDER_ACCEPTED.dump(
        {"command_id": command_id, "status": responses.ACCEPTED, "order_id": order_id}
    )


class Collection:
    """``POST /orders`` queues ``PlaceOrder``.  The order starts ``pending``;
    the process manager then asks each product to reserve its line."""

    def __init__(self, commands: CommandSubmitter, decisions: CommandPreview, uuidgen: Callable[[], UUID]):
        self._commands = commands
        self._decisions = decisions
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
        accept(req, resp, self._commands, self._decisions, envelope, accepted(command_id, order_id), sent)


class Item:
    """``GET /orders/{id}``."""

    read_model = ORDER

    def __init__(self, views: OrderReadModel, progress: StreamProgress | None = None):
        self._views = views
        self._progress = progress

    def read_query(self, req: falcon.Request) -> dict:
        """The query: ``after=`` alone (also checked before its wait)."""
        inputs.only(req, waiting.AFTER)
        return {}

    def on_get(self, req: falcon.Request, resp: falcon.Response, order_id: UUID) -> None:
        self.read_query(req)
        order = self._views.get(str(order_id))
        if order is None:
            raise not_found(f"order {order_id}")
        freshness.answer_item(req, resp, self._progress, order, collection=ORDERS)


class Transition:
    """``POST /orders/{id}/cancel`` and ``/ship``: no body (any sent is
    ignored), no ``Content-Type`` needed."""

    def __init__(
        self,
        command: type[CancelOrder] | type[ShipOrder],
        commands: CommandSubmitter,
        decisions: CommandPreview,
        uuidgen: Callable[[], UUID],
    ):
        self._command = command
        self._commands = commands
        self._decisions = decisions
        self._uuidgen = uuidgen

    def on_post(self, req: falcon.Request, resp: falcon.Response, order_id: UUID) -> None:
        command_id = str(self._uuidgen())
        envelope = CommandEnvelope.wrap(self._command(order_id=str(order_id)), command_id=command_id)
        response = accepted(command_id, str(order_id))
        accept(req, resp, self._commands, self._decisions, envelope, response, sent=None)


class CustomerOrders:
    """``GET /customers/{customer_id}/orders``: newest first, by cursor."""

    read_model = ORDER

    def __init__(self, views: OrderReadModel, cursors: Cursors, progress: StreamProgress | None = None):
        self._views = views
        self._cursors = cursors
        self._progress = progress
        self._query = CustomerOrdersQuery()

    def read_query(self, req: falcon.Request) -> dict:
        """The query, validated (also before an ``after=`` wait)."""
        return inputs.query(req, self._query)

    def on_get(self, req: falcon.Request, resp: falcon.Response, customer_id: str) -> None:
        if CUSTOMER_ID.regex.fullmatch(customer_id) is None:
            raise not_found(f"customer {customer_id!r}")
        params = self.read_query(req)
        query = {"customer_id": customer_id, "status": params.get("status")}
        after = page_after(self._cursors, params, query)
        page = self._views.for_customer(customer_id, params.get("status"), params["limit"], after)
        freshness.describe(req, resp, self._progress, page.items, collection=ORDERS)
        resp.media = responses.page(page.items, self._cursors.following(query, page.last))
