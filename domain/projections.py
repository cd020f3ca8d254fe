"""Read-model projections: pure functions from a document and an event to
the next document.  The workers store the result; nothing here does I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import events


def product_view(
    doc: dict[str, Any] | None, event: events.Event, version: int, recorded_at: datetime
) -> dict[str, Any]:
    """The ``products`` document after ``event`` (the stream's ``version``).

    Besides the fields the API shows it keeps ``in_stock`` and ``name_key``
    (the name case-folded), so that filters and sorts are index lookups."""
    doc = _product_fields(doc, event, version, recorded_at)
    doc["in_stock"] = doc["stock_available"] > 0
    doc["name_key"] = doc["name"].casefold()
    return doc


def _product_fields(
    doc: dict[str, Any] | None, event: events.Event, version: int, recorded_at: datetime
) -> dict[str, Any]:
    match event:
        case events.ProductCreated():
            return {
                "sku": event.sku,
                "name": event.name,
                "description": event.description,
                "category": event.category,
                "price_cents": event.price_cents,
                "currency": event.currency,
                "stock_available": event.stock,
                "stock_reserved": 0,
                "version": version,
                "created_at": recorded_at,
                "updated_at": recorded_at,
            }
    assert doc is not None, f"{event.type} before the product was created"
    match event:
        case events.ProductDetailsChanged():
            changed = {"name": event.name, "description": event.description, "category": event.category}
        case events.ProductPriceChanged():
            changed = {"price_cents": event.price_cents}
        case events.StockAdjusted():
            changed = {"stock_available": doc["stock_available"] + event.delta}
        case _:
            raise TypeError(f"no product projection for {event.type}")
    return {**doc, **changed, "version": version, "updated_at": recorded_at}
