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
    name: str | None = None
    description: str | None = None
    category: str | None = None
    price_cents: int = 0
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
                state = replace(
                    self,
                    sku=event.sku,
                    name=event.name,
                    description=event.description,
                    category=event.category,
                    price_cents=event.price_cents,
                    currency=event.currency,
                    stock_available=event.stock,
                )
            case events.ProductDetailsChanged():
                state = replace(self, name=event.name, description=event.description, category=event.category)
            case events.ProductPriceChanged():
                state = replace(self, price_cents=event.price_cents)
            case events.StockAdjusted():
                state = replace(self, stock_available=self.stock_available + event.delta)
            case _:
                raise TypeError(f"a product cannot apply {event.type}")
        return replace(state, version=self.version + 1)


def decide(state: Product, command: commands.Command) -> list[events.Event]:
    """Return the events ``command`` produces against ``state`` (none when
    it changes nothing).

    Raises:
      DomainError: a business rule refuses the command.
    """
    if isinstance(command, commands.CreateProduct):
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
    if not state.exists:
        raise ProductNotFound(f"product {command.stream_id} does not exist")
    match command:
        case commands.UpdateProduct():
            return _update(state, command.changes)
        case commands.AdjustStock():
            if state.stock_available + command.delta < 0:
                raise InsufficientStock(f"{state.stock_available} available, cannot take {-command.delta}")
            return [events.StockAdjusted(delta=command.delta, reason=command.reason)]
    raise TypeError(f"a product cannot handle {command.type}")


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
        produced.append(events.ProductPriceChanged(price_cents=price, previous_price_cents=state.price_cents))
    return produced
