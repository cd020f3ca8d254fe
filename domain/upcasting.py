"""Event schemas over time.  Every stored event carries the version of its
type's schema it was written in (``schema``; events stored before schemas
were numbered have none, and are version 1).  When a type's shape changes,
its old shape is kept here under its version, with an *upcaster*: a small
pure function that turns the data of version k into version k + 1.

Reading an event applies its type's upcasters in a chain, from the
version it was stored in to the current one (``infra/mapper.py`` does, at
the store boundary), so the domain, the projections, history's readers
and snapshots only ever see today's shapes, and no stored event is ever
rewritten.  How to change an event: README, "Event schemas"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain import events

Data = dict[str, Any]


@dataclass(frozen=True)
class ProductCreatedV1:
    """``ProductCreated`` as stored until schema 2."""

    sku: str
    name: str
    price_cents: int
    currency: str
    description: str | None
    category: str | None
    #: The stock the product was created with, read by many as its stock now.
    stock: int


def product_created_1_to_2(data: Data) -> Data:
    """``stock`` is called ``initial_stock``: the stock the product was
    created with, which its stock now is not."""
    upcast = {key: value for key, value in data.items() if key != "stock"}
    upcast["initial_stock"] = data["stock"]
    return upcast


@dataclass(frozen=True)
class Change:
    """Version ``from_schema`` of ``event_type`` (whose shape was
    ``shape``) became version ``from_schema + 1`` through ``upcast``."""

    event_type: str
    from_schema: int
    shape: type
    upcast: Callable[[Data], Data]


#: Every change of an event's shape, oldest first per type.
CHANGES: tuple[Change, ...] = (Change("ProductCreated", 1, ProductCreatedV1, product_created_1_to_2),)

_BY_STEP = {(change.event_type, change.from_schema): change for change in CHANGES}


class NewerSchema(ValueError):
    """An event stored in a schema this code does not know yet (written by
    newer code, as during a rolling deploy)."""


def current_schema(event_type: str) -> int:
    """The schema version events of ``event_type`` are written in today."""
    return 1 + sum(1 for change in CHANGES if change.event_type == event_type)


def upcast(event_type: str, schema: int, data: Data) -> Data:
    """``data`` of an ``event_type`` stored in ``schema``, in today's shape.

    Raises:
      NewerSchema: ``schema`` is newer than this code's.
    """
    current = current_schema(event_type)
    if schema > current:
        raise NewerSchema(f"{event_type} schema {schema} is newer than this code's ({current})")
    while schema < current:
        data = _BY_STEP[(event_type, schema)].upcast(data)
        schema += 1
    return data


def shapes(event_type: str) -> dict[int, type]:
    """Every schema version of ``event_type`` with the dataclass that
    defines it (the last one is today's event class)."""
    known = {c.from_schema: c.shape for c in CHANGES if c.event_type == event_type}
    return {**known, current_schema(event_type): events.EVENTS[event_type]}


def _check() -> None:
    # Each type's changes run 1, 2, 3...: a gap would leave a version unreadable.
    for change in CHANGES:
        assert change.event_type in events.EVENTS, change
        assert change.from_schema == 1 or (change.event_type, change.from_schema - 1) in _BY_STEP, change


_check()
