"""Read-model projections: pure functions from a document and an event to
the next document.  The workers store the result; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain import events
from domain.order import CANCELLED, CONFIRMED, PENDING, REFUSED, REJECTED, RELEASED, RESERVED, SHIPPED

#: ``(document or None, event, its version, when it was recorded) -> document``
View = Callable[[dict[str, Any] | None, events.Event, int, datetime], dict[str, Any]]


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
                "stock_available": event.initial_stock,
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
        case events.StockReserved():
            changed = {
                "stock_available": doc["stock_available"] - event.quantity,
                "stock_reserved": doc["stock_reserved"] + event.quantity,
            }
        case events.ReservationReleased():
            changed = {
                "stock_available": doc["stock_available"] + event.quantity,
                "stock_reserved": doc["stock_reserved"] - event.quantity,
            }
        case events.StockShipped():
            changed = {"stock_reserved": doc["stock_reserved"] - event.quantity}
        case _:
            raise TypeError(f"no product projection for {event.type}")
    return {**doc, **changed, "version": version, "updated_at": recorded_at}


def order_view(
    doc: dict[str, Any] | None, event: events.Event, version: int, recorded_at: datetime
) -> dict[str, Any]:
    """The ``orders`` document after ``event`` (the stream's ``version``)."""
    if isinstance(event, events.OrderPlaced):
        return {
            "customer_id": event.customer_id,
            "status": PENDING,
            "currency": event.currency,
            "lines": [
                {
                    "product_id": line["product_id"],
                    "sku": None,
                    "name": None,
                    "quantity": line["quantity"],
                    "unit_price_cents": None,
                    "line_total_cents": None,
                    "status": PENDING,
                    "reason": None,
                }
                for line in event.lines
            ],
            "total_cents": None,
            "version": version,
            "placed_at": recorded_at,
            # Lists sort and page on this integer, which every server
            # compares exactly (the embedded store compares dates to the second).
            "placed_ms": int(recorded_at.timestamp() * 1000),
            "updated_at": recorded_at,
        }
    assert doc is not None, f"{event.type} before the order was placed"
    changed: dict[str, Any]
    match event:
        case events.OrderLineReserved():
            changed = {
                "lines": _line(
                    doc,
                    event.product_id,
                    lambda line: {
                        "sku": event.sku,
                        "name": event.name,
                        "unit_price_cents": event.unit_price_cents,
                        "line_total_cents": event.unit_price_cents * line["quantity"],
                        "status": RESERVED,
                        "reason": None,
                    },
                )
            }
        case events.OrderLineRefused():
            changed = {
                "lines": _line(doc, event.product_id, lambda _: {"status": REFUSED, "reason": event.reason})
            }
        case events.OrderLineReleased():
            changed = {"lines": _line(doc, event.product_id, lambda _: {"status": RELEASED})}
        case events.OrderLineShipped():
            changed = {"lines": _line(doc, event.product_id, lambda _: {"status": SHIPPED})}
        case events.OrderConfirmed():
            changed = {"status": CONFIRMED, "total_cents": event.total_cents}
        case events.OrderRejected():
            changed = {"status": REJECTED}
        case events.OrderCancelled():
            changed = {"status": CANCELLED}
        case events.OrderShipped():
            changed = {"status": SHIPPED}
        case _:
            raise TypeError(f"no order projection for {event.type}")
    return {**doc, **changed, "version": version, "updated_at": recorded_at}


def _line(doc: dict[str, Any], product_id: str, change) -> list[dict[str, Any]]:
    return [{**line, **change(line)} if line["product_id"] == product_id else line for line in doc["lines"]]
