"""Queries: read-model collections shaped into JSON.  Nothing here touches
the domain; only history reads the event store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from infra.eventstore import EventStore
from infra.generations import Generations
from infra.mongo import ORDERS, PRODUCTS, READ_MODELS
from web import responses
from web.responses import from_read_model

#: API sort name -> the read-model field it orders by (ties: ``id``, which
#: repeats ``_id``).
SORT_FIELDS = {"name": "name_key", "price_cents": "price_cents"}


@dataclass(frozen=True)
class ProductFilter:
    category: str | None = None
    in_stock: bool | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None

    def to_mongo(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.category is not None:
            query["category"] = self.category
        if self.in_stock is not None:
            query["in_stock"] = self.in_stock
        price: dict[str, int] = {}
        if self.min_price_cents is not None:
            price["$gte"] = self.min_price_cents
        if self.max_price_cents is not None:
            price["$lte"] = self.max_price_cents
        if price:
            query["price_cents"] = price
        return query


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    last: list[Any] | None  # the sort key of the last item when more follow


class ReadModel:
    """One read model's documents (its active generation), shaped by its
    response schema."""

    collection: str
    schema: Schema

    def __init__(self, db: Database, generations: Generations | None = None):
        self._generations = generations or Generations(db)

    @property
    def _documents(self):
        return self._generations.active(self.collection)

    def get(self, stream_id: str) -> dict[str, Any] | None:
        doc = self._documents.find_one({"_id": stream_id})
        return self.schema.dump(from_read_model(doc)) if doc else None

    def _page(
        self, where: dict[str, Any], field: str, *, descending: bool, limit: int, after: list[Any] | None
    ) -> Page:
        """One page in ``field`` order, ties broken by id in the same
        direction, starting after the key ``after``."""
        direction = DESCENDING if descending else ASCENDING
        query = where
        if after is not None:
            value, last_id = after
            beyond = "$lt" if descending else "$gt"
            seek = [{field: {beyond: value}}, {field: value, "id": {beyond: last_id}}]
            # Beside the filter, unless the filter has an $or of its own.
            query = {"$and": [where, {"$or": seek}]} if "$or" in where else {**where, "$or": seek}
        docs = list(
            self._documents.find(query, sort=[(field, direction), ("id", direction)], limit=limit + 1)
        )
        more = len(docs) > limit
        docs = docs[:limit]
        last = [docs[-1][field], docs[-1]["id"]] if more else None
        return Page([self.schema.dump(from_read_model(d)) for d in docs], last)


class ProductViews(ReadModel):
    collection = PRODUCTS
    schema = responses.PRODUCT

    def list(self, where: ProductFilter, sort: str, limit: int, after: list[Any] | None = None) -> Page:
        """One page in ``sort`` order (``-`` for descending)."""
        field = SORT_FIELDS[sort.lstrip("-")]
        return self._page(where.to_mongo(), field, descending=sort.startswith("-"), limit=limit, after=after)


class OrderViews(ReadModel):
    collection = ORDERS
    schema = responses.ORDER

    def for_customer(
        self, customer_id: str, status: str | None, limit: int, after: list[Any] | None = None
    ) -> Page:
        """A customer's orders, newest first, paged on ``placed_ms``: an
        integer compares exactly on every server."""
        where: dict[str, Any] = {"customer_id": customer_id}
        if status is not None:
            where["status"] = status
        return self._page(where, "placed_ms", descending=True, limit=limit, after=after)


class ReadModelVersions:
    """The version a stream's read-model document has reached (0 if none)."""

    def __init__(self, db: Database, generations: Generations | None = None):
        self._generations = generations or Generations(db)

    def __call__(self, stream_type: str, stream_id: str) -> int | None:
        model = READ_MODELS.get(stream_type)
        if model is None:
            return None
        doc = self._generations.active(model.name).find_one({"_id": stream_id}, {"version": 1})
        return doc["version"] if doc else 0


class HistoryViews:
    """A stream's events, read from the event store (read only)."""

    def __init__(self, db: Database):
        self._store = EventStore(db)

    def events(self, stream_id: str, stream_type: str) -> list[dict[str, Any]] | None:
        commits = self._store.load(stream_id)
        if not commits or commits[0].stream_type != stream_type:
            return None
        return [
            # As stored: in the schema it was written in, which it names.
            responses.EVENT.dump(
                {"schema": 1}
                | event
                | {"recorded_at": commit.recorded_at, "command_id": commit.command_id}
            )
            for commit in commits
            for event in commit.events
        ]


def product_json(doc: dict[str, Any]) -> dict[str, Any]:
    """A product's read-model document as the API shows it."""
    return responses.PRODUCT.dump(from_read_model(doc))
