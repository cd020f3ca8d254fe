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
    stock: int


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


EVENTS: dict[str, type[Event]] = {
    e.__name__: e for e in (ProductCreated, ProductDetailsChanged, ProductPriceChanged, StockAdjusted)
}


def event_from_dict(type_name: str, data: dict[str, Any]) -> Event:
    """Rebuild an event from its stored type name and data.

    Raises:
      KeyError: the event type is unknown.
    """
    return EVENTS[type_name](**data)
