"""Read-model projections: pure functions from a document and an event to
the next document.  The workers store the result; nothing here does I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import events


def product_view(
    doc: dict[str, Any] | None, event: events.Event, version: int, recorded_at: datetime
) -> dict[str, Any]:
    """The ``products`` document after ``event`` (the stream's ``version``)."""
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
        case events.StockAdjusted():
            assert doc is not None, "stock adjusted before the product was created"
            return {
                **doc,
                "stock_available": doc["stock_available"] + event.delta,
                "version": version,
                "updated_at": recorded_at,
            }
    raise TypeError(f"no product projection for {event.type}")
