"""``/products``: the catalog's commands and queries."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import falcon

from domain.commands import AdjustStock, CreateProduct, UpdateProduct
from domain.streams import PRODUCT
from infra.messages import CommandEnvelope
from infra.mongo import PRODUCTS
from web import freshness, inputs, responses, waiting
from web.accepting import accept
from web.cursors import Cursors, page_after
from web.ports import CommandPreview, CommandSubmitter, ProductReadModel, StreamProgress
from web.problems import Problem, not_found
from web.schemas import CreateProductSchema, ListProductsQuery, StockAdjustmentSchema, UpdateProductSchema
from web.views import ProductFilter


def accepted(command_id: str, product_id: str) -> dict[str, str]:
    """The 202's body for a product's command."""
    return responses.PRODUCT_ACCEPTED.dump(
        {"command_id": command_id, "status": responses.ACCEPTED, "product_id": product_id}
    )


class Collection:
    """``POST /products`` queues ``CreateProduct``; ``GET /products`` lists
    the catalog, filtered, sorted and paged by cursor."""

    read_model = PRODUCT

    def __init__(
        self,
        commands: CommandSubmitter,
        decisions: CommandPreview,
        views: ProductReadModel,
        cursors: Cursors,
        uuidgen: Callable[[], UUID],
        progress: StreamProgress | None = None,
    ):
        self._commands = commands
        self._decisions = decisions
        self._views = views
        self._cursors = cursors
        self._progress = progress
        self._uuidgen = uuidgen
        self._schema = CreateProductSchema()
        self._query = ListProductsQuery()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields, sent = inputs.body(req, self._schema)
        product_id, command_id = str(self._uuidgen()), str(self._uuidgen())
        envelope = CommandEnvelope.wrap(CreateProduct(product_id=product_id, **fields), command_id=command_id)
        accept(req, resp, self._commands, self._decisions, envelope, accepted(command_id, product_id), sent)

    def read_query(self, req: falcon.Request) -> dict:
        """The query, validated (also before an ``after=`` wait)."""
        return inputs.query(req, self._query)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = self.read_query(req)
        where = ProductFilter(
            category=params.get("category"),
            in_stock=params.get("in_stock"),
            min_price_cents=params.get("min_price_cents"),
            max_price_cents=params.get("max_price_cents"),
        )
        low, high = where.min_price_cents, where.max_price_cents
        if low is not None and high is not None and low > high:
            raise Problem(
                falcon.HTTP_400,
                title="Invalid Query",
                detail="min_price_cents is above max_price_cents",
                errors={"min_price_cents": ["must not be above max_price_cents"]},
            )
        # A cursor carries the filters and sort it was made for; limit may vary.
        query = {k: v for k, v in params.items() if k not in ("cursor", "limit", "after")}
        after = page_after(self._cursors, params, query)
        page = self._views.list(where, params["sort"], params["limit"], after)
        freshness.describe(req, resp, self._progress, page.items, collection=PRODUCTS)
        resp.media = responses.page(page.items, self._cursors.following(query, page.last))


class Item:
    """``GET /products/{id}`` reads the read model; ``PATCH`` queues
    ``UpdateProduct``."""

    read_model = PRODUCT

    def __init__(
        self,
        commands: CommandSubmitter,
        decisions: CommandPreview,
        views: ProductReadModel,
        uuidgen: Callable[[], UUID],
        progress: StreamProgress | None = None,
    ):
        self._commands = commands
        self._decisions = decisions
        self._views = views
        self._uuidgen = uuidgen
        self._progress = progress
        self._schema = UpdateProductSchema()

    def read_query(self, req: falcon.Request) -> dict:
        """The query: ``after=`` alone (also checked before its wait)."""
        inputs.only(req, waiting.AFTER)
        return {}

    def on_get(self, req: falcon.Request, resp: falcon.Response, product_id: UUID) -> None:
        self.read_query(req)
        product = self._views.get(str(product_id))
        if product is None:
            raise not_found(f"product {product_id}")
        freshness.answer_item(req, resp, self._progress, product, collection=PRODUCTS)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, product_id: UUID) -> None:
        changes, sent = inputs.body(req, self._schema, inputs.PATCH_MEDIA_TYPES)
        command_id = str(self._uuidgen())
        envelope = CommandEnvelope.wrap(
            UpdateProduct(product_id=str(product_id), changes=changes), command_id=command_id
        )
        response = accepted(command_id, str(product_id))
        accept(req, resp, self._commands, self._decisions, envelope, response, sent)


class StockAdjustments:
    """``POST /products/{id}/stock-adjustments`` queues ``AdjustStock``."""

    def __init__(self, commands: CommandSubmitter, decisions: CommandPreview, uuidgen: Callable[[], UUID]):
        self._commands = commands
        self._decisions = decisions
        self._uuidgen = uuidgen
        self._schema = StockAdjustmentSchema()

    def on_post(self, req: falcon.Request, resp: falcon.Response, product_id: UUID) -> None:
        fields, sent = inputs.body(req, self._schema)
        command_id = str(self._uuidgen())
        envelope = CommandEnvelope.wrap(
            AdjustStock(product_id=str(product_id), **fields), command_id=command_id
        )
        response = accepted(command_id, str(product_id))
        accept(req, resp, self._commands, self._decisions, envelope, response, sent)
