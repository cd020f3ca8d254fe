"""The kinds of stream the service keeps, declared once: for each, its
aggregate, its decide function, the error for a stream that does not
exist, and the projection that makes its read-model document.

Names and pure functions only; where each kind's documents are stored is
the adapters' business (``infra/mongo.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain import order, product
from domain.commands import OrderCommand, ProductCommand
from domain.errors import DomainError, OrderNotFound, ProductNotFound
from domain.projections import View, order_view, product_view

#: A kind's name is the ``stream_type`` its commands carry.
PRODUCT: str = ProductCommand.stream_type
ORDER: str = OrderCommand.stream_type


@dataclass(frozen=True)
class StreamKind:
    name: str
    #: Has ``replay(events) -> state``; ``state.version`` is the stream's.
    aggregate: Any
    decide: Callable[[Any, Any], list]
    not_found: type[DomainError]
    view: View


STREAM_KINDS: dict[str, StreamKind] = {
    PRODUCT: StreamKind(PRODUCT, product.Product, product.decide, ProductNotFound, product_view),
    ORDER: StreamKind(ORDER, order.Order, order.decide, OrderNotFound, order_view),
}
