"""Queries: read-model collections shaped into JSON.  Nothing here touches
the domain; only history reads the event store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from infra.eventstore import EventStore
from infra.generations import BY_STREAM_TYPE, Generations
from infra.messages import rfc3339
from infra.mongo import ORDERS, PRODUCTS

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


class ProductViews:
    def __init__(self, db: Database, generations: Generations | None = None):
        self._generations = generations or Generations(db)

    @property
    def _products(self):
        return self._generations.active(PRODUCTS)

    def get(self, product_id: str) -> dict[str, Any] | None:
        doc = self._products.find_one({"_id": product_id})
        return product_json(doc) if doc else None

    def list(self, where: ProductFilter, sort: str, limit: int, after: list[Any] | None = None) -> Page:
        """One page in ``sort`` order (``-`` for descending), ties broken by
        id in the same direction, starting after the key ``after``."""
        descending = sort.startswith("-")
        field = SORT_FIELDS[sort.lstrip("-")]
        direction = DESCENDING if descending else ASCENDING
        query = where.to_mongo()
        if after is not None:
            value, last_id = after
            beyond = "$lt" if descending else "$gt"
            seek = {"$or": [{field: {beyond: value}}, {field: value, "id": {beyond: last_id}}]}
            query = {"$and": [query, seek]} if query else seek
        docs = list(self._products.find(query, sort=[(field, direction), ("id", direction)], limit=limit + 1))
        more = len(docs) > limit
        docs = docs[:limit]
        last = [docs[-1][field], docs[-1]["id"]] if more else None
        return Page([product_json(d) for d in docs], last)


class OrderViews:
    def __init__(self, db: Database, generations: Generations | None = None):
        self._generations = generations or Generations(db)

    @property
    def _orders(self):
        return self._generations.active(ORDERS)

    def get(self, order_id: str) -> dict[str, Any] | None:
        doc = self._orders.find_one({"_id": order_id})
        return order_json(doc) if doc else None

    def for_customer(
        self, customer_id: str, status: str | None, limit: int, after: list[Any] | None = None
    ) -> Page:
        """A customer's orders, newest first (ties: id, descending), paged on
        ``placed_ms``: an integer compares exactly on every server."""
        query: dict[str, Any] = {"customer_id": customer_id}
        if status is not None:
            query["status"] = status
        if after is not None:
            placed_ms, last_id = after
            query["$or"] = [
                {"placed_ms": {"$lt": placed_ms}},
                {"placed_ms": placed_ms, "id": {"$lt": last_id}},
            ]
        docs = list(
            self._orders.find(query, sort=[("placed_ms", DESCENDING), ("id", DESCENDING)], limit=limit + 1)
        )
        more = len(docs) > limit
        docs = docs[:limit]
        last = [docs[-1]["placed_ms"], docs[-1]["id"]] if more else None
        return Page([order_json(d) for d in docs], last)


class ReadModelVersions:
    """The version a stream's read-model document has reached (0 if none)."""

    def __init__(self, db: Database, generations: Generations | None = None):
        self._generations = generations or Generations(db)

    def __call__(self, stream_type: str, stream_id: str) -> int | None:
        name = BY_STREAM_TYPE.get(stream_type)
        if name is None:
            return None
        doc = self._generations.active(name).find_one({"_id": stream_id}, {"version": 1})
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
            {
                "type": event["type"],
                "version": event["version"],
                "data": event["data"],
                "recorded_at": rfc3339(commit.recorded_at),
                "command_id": commit.command_id,
            }
            for commit in commits
            for event in commit.events
        ]


def product_json(doc: dict[str, Any]) -> dict[str, Any]:
    return stuck_flag(doc) | {
        "id": doc["_id"],
        "sku": doc["sku"],
        "name": doc["name"],
        "description": doc.get("description"),
        "category": doc.get("category"),
        "price_cents": doc["price_cents"],
        "currency": doc["currency"],
        "stock_available": doc["stock_available"],
        "stock_reserved": doc["stock_reserved"],
        "version": doc["version"],
        "created_at": timestamp(doc["created_at"]),
        "updated_at": timestamp(doc["updated_at"]),
    }


def timestamp(value: datetime | str) -> str:
    return rfc3339(value) if isinstance(value, datetime) else value


def order_json(doc: dict[str, Any]) -> dict[str, Any]:
    return stuck_flag(doc) | {
        "id": doc["_id"],
        "customer_id": doc["customer_id"],
        "status": doc["status"],
        "currency": doc["currency"],
        "lines": [
            {
                k: line[k]
                for k in (
                    "product_id",
                    "sku",
                    "name",
                    "quantity",
                    "unit_price_cents",
                    "line_total_cents",
                    "status",
                    "reason",
                )
            }
            for line in doc["lines"]
        ],
        "total_cents": doc["total_cents"],
        "version": doc["version"],
        "placed_at": timestamp(doc["placed_at"]),
        "updated_at": timestamp(doc["updated_at"]),
    }


def stuck_flag(doc: dict[str, Any]) -> dict[str, Any]:
    """``{"stuck": true}`` for a document whose projection is held up by a
    dead letter (it shows the last version that could be applied)."""
    return {"stuck": True} if doc.get("stuck") else {}
