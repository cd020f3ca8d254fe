"""Commands: requests to change one aggregate, named in the imperative.

Each targets one stream: a product's (``product_id``) or an order's
(``order_id``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from domain.messages import Message


@dataclass(frozen=True)
class Command(Message):
    stream_type: ClassVar[str]

    @property
    def stream_id(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class ProductCommand(Command):
    stream_type: ClassVar[str] = "product"

    @property
    def stream_id(self) -> str:
        return self.product_id  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OrderCommand(Command):
    stream_type: ClassVar[str] = "order"

    @property
    def stream_id(self) -> str:
        return self.order_id  # type: ignore[attr-defined]


# --- the catalog ---------------------------------------------------------------


@dataclass(frozen=True)
class CreateProduct(ProductCommand):
    product_id: str
    sku: str
    name: str
    price_cents: int
    currency: str
    description: str | None = None
    category: str | None = None
    stock: int = 0


@dataclass(frozen=True)
class UpdateProduct(ProductCommand):
    """Change any of ``name``, ``description``, ``category``, ``price_cents``:
    ``changes`` holds only the fields the client sent."""

    product_id: str
    changes: dict[str, Any]

    FIELDS: ClassVar[frozenset[str]] = frozenset({"name", "description", "category", "price_cents"})

    def __post_init__(self):
        unknown = set(self.changes) - self.FIELDS
        if unknown or not self.changes:
            raise ValueError(f"an update changes some of {sorted(self.FIELDS)}, not {sorted(unknown)}")


@dataclass(frozen=True)
class AdjustStock(ProductCommand):
    product_id: str
    delta: int
    reason: str | None = None


# --- stock for orders (sent by the order process manager) ------------------------


@dataclass(frozen=True)
class ReserveStock(ProductCommand):
    product_id: str
    order_id: str
    quantity: int
    currency: str


@dataclass(frozen=True)
class ReleaseStock(ProductCommand):
    product_id: str
    order_id: str


@dataclass(frozen=True)
class ShipStock(ProductCommand):
    product_id: str
    order_id: str


# --- orders --------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceOrder(OrderCommand):
    order_id: str
    customer_id: str
    currency: str
    lines: list[dict[str, Any]]  # [{product_id, quantity}]


@dataclass(frozen=True)
class CancelOrder(OrderCommand):
    order_id: str


@dataclass(frozen=True)
class ShipOrder(OrderCommand):
    order_id: str


@dataclass(frozen=True)
class MarkLineReserved(OrderCommand):
    order_id: str
    product_id: str
    sku: str
    name: str
    unit_price_cents: int


@dataclass(frozen=True)
class MarkLineRefused(OrderCommand):
    order_id: str
    product_id: str
    reason: str


COMMANDS: dict[str, type[Command]] = {
    c.__name__: c
    for c in (
        CreateProduct,
        UpdateProduct,
        AdjustStock,
        ReserveStock,
        ReleaseStock,
        ShipStock,
        PlaceOrder,
        CancelOrder,
        ShipOrder,
        MarkLineReserved,
        MarkLineRefused,
    )
}

#: Commands that start a new stream: the handler need not load it first.
CREATES_STREAM = (CreateProduct, PlaceOrder)


def command_from_dict(type_name: str, data: dict[str, Any]) -> Command:
    """Rebuild a command from its name and fields (as carried in a message).

    Raises:
      KeyError: the command type is unknown.
    """
    return COMMANDS[type_name](**data)
