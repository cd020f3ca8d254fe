"""The product aggregate: a catalog entry, its stock and the reservations
orders hold on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from domain import commands, events
from domain.aggregate import Aggregate
from domain.errors import (
    CurrencyMismatch,
    InsufficientStock,
    PriceLimitExceeded,
    ProductAlreadyExists,
    ProductNotFound,
    StockLimitExceeded,
)
from domain.limits import MAX_PRICE_CENTS, MAX_STOCK


@dataclass(frozen=True)
class Product(Aggregate):
    """A product's state, as far as its own rules need it."""

    version: int = 0
    sku: str | None = None
    name: str | None = None
    description: str | None = None
    category: str | None = None
    price_cents: int = 0
    currency: str | None = None
    stock_available: int = 0
    #: Open reservations: order id -> quantity set aside.  Orders whose
    #: reservation was released or shipped are not remembered: each (order,
    #: product) pair gets one ``ReserveStock``, and the event store decides
    #: a command once (README, "Snapshots"), so the state stays as small as
    #: the open reservations however long the stream.
    reservations: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def stock_reserved(self) -> int:
        return sum(self.reservations.values())

    def apply(self, event: events.Event) -> Product:
        match event:
            case events.ProductCreated():
                state = replace(
                    self,
                    sku=event.sku,
                    name=event.name,
                    description=event.description,
                    category=event.category,
                    price_cents=event.price_cents,
                    currency=event.currency,
                    stock_available=event.initial_stock,
                )
            case events.ProductDetailsChanged():
                state = replace(self, name=event.name, description=event.description, category=event.category)
            case events.ProductPriceChanged():
                state = replace(self, price_cents=event.price_cents)
            case events.StockAdjusted():
                state = replace(self, stock_available=self.stock_available + event.delta)
            case events.StockReserved():
                state = replace(
                    self,
                    stock_available=self.stock_available - event.quantity,
                    reservations=_with(self.reservations, event.order_id, event.quantity),
                )
            case events.ReservationReleased():
                state = replace(
                    self,
                    stock_available=self.stock_available + event.quantity,
                    reservations=_without(self.reservations, event.order_id),
                )
            case events.StockShipped():
                state = replace(
                    self,
                    reservations=_without(self.reservations, event.order_id),
                )
            case _:
                raise TypeError(f"a product cannot apply {event.type}")
        return replace(state, version=self.version + 1)

    @classmethod
    def from_snapshot(cls, data: dict) -> Product:
        return cls(**{**data, "reservations": MappingProxyType(dict(data["reservations"]))})


def _with(reservations: Mapping[str, int], order_id: str, quantity: int) -> Mapping[str, int]:
    return MappingProxyType({**reservations, order_id: quantity})


def _without(reservations: Mapping[str, int], order_id: str) -> Mapping[str, int]:
    return MappingProxyType({k: v for k, v in reservations.items() if k != order_id})


def decide(state: Product, command: commands.Command) -> list[events.Event]:
    """Return the events ``command`` produces against ``state`` (none when
    it changes nothing).

    Raises:
      DomainError: a business rule refuses the command.
    """
    if isinstance(command, commands.CreateProduct):
        if state.exists:
            raise ProductAlreadyExists(f"product {command.product_id} already exists")
        _check_price(command.price_cents)
        _check_stock(command.stock)
        return [
            events.ProductCreated(
                sku=command.sku,
                name=command.name,
                price_cents=command.price_cents,
                currency=command.currency,
                description=command.description,
                category=command.category,
                initial_stock=command.stock,
            )
        ]
    if not state.exists:
        raise ProductNotFound(f"product {command.stream_id} does not exist")
    match command:
        case commands.UpdateProduct():
            return _update(state, command.changes)
        case commands.AdjustStock():
            if state.stock_available + command.delta < 0:
                raise InsufficientStock(f"{state.stock_available} available, cannot take {-command.delta}")
            _check_stock(state.stock_available + state.stock_reserved + command.delta)
            return [events.StockAdjusted(delta=command.delta, reason=command.reason)]
        case commands.ReserveStock():
            return _reserve(state, command)
        case commands.ReleaseStock():
            # Releasing what is not (or no longer) reserved changes nothing.
            quantity = state.reservations.get(command.order_id)
            return [] if quantity is None else [events.ReservationReleased(command.order_id, quantity)]
        case commands.ShipStock():
            quantity = state.reservations.get(command.order_id)
            return [] if quantity is None else [events.StockShipped(command.order_id, quantity)]
    raise TypeError(f"a product cannot handle {command.type}")


def _reserve(state: Product, command: commands.ReserveStock) -> list[events.Event]:
    if command.order_id in state.reservations:
        return []  # this order's line was answered already
    if command.currency != state.currency:
        raise CurrencyMismatch(f"the product is priced in {state.currency}, the order in {command.currency}")
    if state.stock_available - command.quantity < 0:
        raise InsufficientStock(f"{state.stock_available} available, {command.quantity} asked")
    assert state.sku is not None and state.name is not None
    return [
        events.StockReserved(
            order_id=command.order_id,
            quantity=command.quantity,
            unit_price_cents=state.price_cents,
            sku=state.sku,
            name=state.name,
        )
    ]


def _check_stock(held: int) -> None:
    # What a product holds, available and reserved together.
    if held > MAX_STOCK:
        raise StockLimitExceeded(f"a product holds at most {MAX_STOCK} in stock")


def _check_price(price_cents: int) -> None:
    # Bounds every line total and order total (see domain.limits).
    if price_cents > MAX_PRICE_CENTS:
        raise PriceLimitExceeded(f"a price is at most {MAX_PRICE_CENTS} cents")


def _update(state: Product, changes: dict) -> list[events.Event]:
    produced: list[events.Event] = []
    details = {
        "name": changes.get("name", state.name),
        "description": changes.get("description", state.description),
        "category": changes.get("category", state.category),
    }
    if details != {"name": state.name, "description": state.description, "category": state.category}:
        produced.append(events.ProductDetailsChanged(**details))
    price = changes.get("price_cents", state.price_cents)
    if price != state.price_cents:
        _check_price(price)
        produced.append(events.ProductPriceChanged(price_cents=price, previous_price_cents=state.price_cents))
    return produced
