"""``/products``: create a product (a command) and read one (a query)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import falcon

from domain.commands import CreateProduct
from infra.messages import CommandEnvelope
from web import body
from web.problems import Problem
from web.schemas import CreateProductSchema


class Collection:
    """``POST /products`` queues ``CreateProduct`` and answers 202."""

    def __init__(self, commands, uuidgen: Callable[[], UUID]):
        self._commands = commands
        self._uuidgen = uuidgen
        self._schema = CreateProductSchema()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields = body.load(req, self._schema)
        product_id = str(self._uuidgen())
        command_id = str(self._uuidgen())
        envelope = CommandEnvelope.wrap(CreateProduct(product_id=product_id, **fields), command_id=command_id)
        self._commands.submit(envelope)
        resp.status = falcon.HTTP_202
        resp.location = f"/commands/{command_id}"
        resp.media = {"command_id": command_id, "status": "accepted", "product_id": product_id}


class Item:
    """``GET /products/{id}`` reads the ``products`` read model."""

    def __init__(self, views):
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response, product_id: UUID) -> None:
        product = self._views.get(str(product_id))
        if product is None:
            raise Problem(falcon.HTTP_404, title="Not Found", detail=f"no product {product_id}")
        resp.media = product
