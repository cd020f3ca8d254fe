"""The product aggregate: a catalog entry and its stock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from domain import commands, events
from domain.errors import InsufficientStock, ProductAlreadyExists, ProductNotFound


@dataclass(frozen=True)
class Product:
    """A product's state, as far as its own rules need it."""

    version: int = 0
    sku: str | None = None
    currency: str | None = None
    stock_available: int = 0

    @property
    def exists(self) -> bool:
        return self.version > 0

    @classmethod
    def replay(cls, history: Iterable[events.Event]) -> Product:
        state = cls()
        for event in history:
            state = state.apply(event)
        return state

    def apply(self, event: events.Event) -> Product:
        match event:
            case events.ProductCreated():
                state = replace(self, sku=event.sku, currency=event.currency, stock_available=event.stock)
            case events.StockAdjusted():
                state = replace(self, stock_available=self.stock_available + event.delta)
            case _:
                raise TypeError(f"a product cannot apply {event.type}")
        return replace(state, version=self.version + 1)


def decide(state: Product, command: commands.Command) -> list[events.Event]:
    """Return the events ``command`` produces against ``state``.

    Raises:
      DomainError: a business rule refuses the command.
    """
    match command:
        case commands.CreateProduct():
            if state.exists:
                raise ProductAlreadyExists(f"product {command.product_id} already exists")
            return [
                events.ProductCreated(
                    sku=command.sku,
                    name=command.name,
                    price_cents=command.price_cents,
                    currency=command.currency,
                    description=command.description,
                    category=command.category,
                    stock=command.stock,
                )
            ]
        case commands.AdjustStock():
            if not state.exists:
                raise ProductNotFound(f"product {command.product_id} does not exist")
            if state.stock_available + command.delta < 0:
                raise InsufficientStock(f"{state.stock_available} available, cannot take {-command.delta}")
            return [events.StockAdjusted(delta=command.delta, reason=command.reason)]
    raise TypeError(f"a product cannot handle {command.type}")
