"""Events: facts about one aggregate, named in the past tense.

An event's ``data`` holds only primitives, so it is stored and sent as is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.messages import Message


@dataclass(frozen=True)
class Event(Message):
    pass


@dataclass(frozen=True)
class ProductCreated(Event):
    sku: str
    name: str
    price_cents: int
    currency: str
    description: str | None
    category: str | None
    #: The stock the product was created with (schema 1 called it ``stock``:
    #: domain/upcasting.py).
    initial_stock: int


@dataclass(frozen=True)
class ProductDetailsChanged(Event):
    """The details after the change (all three, changed or not)."""

    name: str
    description: str | None
    category: str | None


@dataclass(frozen=True)
class ProductPriceChanged(Event):
    price_cents: int
    previous_price_cents: int


@dataclass(frozen=True)
class StockAdjusted(Event):
    delta: int
    reason: str | None


@dataclass(frozen=True)
class StockReserved(Event):
    """Stock set aside for an order's line, at the price of the moment."""

    order_id: str
    quantity: int
    unit_price_cents: int
    sku: str
    name: str


@dataclass(frozen=True)
class ReservationReleased(Event):
    order_id: str
    quantity: int


@dataclass(frozen=True)
class StockShipped(Event):
    """A reservation left the warehouse: reserved goes down, for good."""

    order_id: str
    quantity: int


@dataclass(frozen=True)
class OrderPlaced(Event):
    customer_id: str
    currency: str
    lines: list[dict[str, Any]]  # [{product_id, quantity}]


@dataclass(frozen=True)
class OrderLineReserved(Event):
    product_id: str
    sku: str
    name: str
    unit_price_cents: int


@dataclass(frozen=True)
class OrderLineRefused(Event):
    product_id: str
    reason: str


@dataclass(frozen=True)
class OrderLineReleased(Event):
    product_id: str


@dataclass(frozen=True)
class OrderLineShipped(Event):
    product_id: str


@dataclass(frozen=True)
class OrderConfirmed(Event):
    total_cents: int


@dataclass(frozen=True)
class OrderRejected(Event):
    pass


@dataclass(frozen=True)
class OrderCancelled(Event):
    pass


@dataclass(frozen=True)
class OrderShipped(Event):
    pass


EVENTS: dict[str, type[Event]] = {
    e.__name__: e
    for e in (
        ProductCreated,
        ProductDetailsChanged,
        ProductPriceChanged,
        StockAdjusted,
        StockReserved,
        ReservationReleased,
        StockShipped,
        OrderPlaced,
        OrderLineReserved,
        OrderLineRefused,
        OrderLineReleased,
        OrderLineShipped,
        OrderConfirmed,
        OrderRejected,
        OrderCancelled,
        OrderShipped,
    )
}


def event_from_dict(type_name: str, data: dict[str, Any]) -> Event:
    """Rebuild an event from its stored type name and data.

    Raises:
      KeyError: the event type is unknown.
    """
    return EVENTS[type_name](**data)
