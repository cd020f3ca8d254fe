"""Queries: read-model collections shaped into JSON.  Nothing here touches
the event store or the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

from infra.messages import rfc3339
from infra.mongo import PRODUCTS


class ProductViews:
    def __init__(self, db: Database):
        self._products = db[PRODUCTS]

    def get(self, product_id: str) -> dict[str, Any] | None:
        doc = self._products.find_one({"_id": product_id})
        return product_json(doc) if doc else None


def product_json(doc: dict[str, Any]) -> dict[str, Any]:
    return {
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
