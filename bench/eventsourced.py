"""The ``eventsourcing`` peer of bench/peers.py: a product as that library's
aggregate, created with the project's fields and saved by an application.
Needs the ``bench`` extra (``pip install -e '.[bench]'``)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Product(Aggregate):
    @event("Created")
    def __init__(
        self,
        sku: str,
        name: str,
        price_cents: int,
        currency: str,
        stock: int = 0,
        description: str | None = None,
        category: str | None = None,
    ):
        self.sku = sku
        self.name = name
        self.price_cents = price_cents
        self.currency = currency
        self.stock = stock
        self.description = description
        self.category = category


class Catalog(Application):
    def create_product(self, **fields) -> UUID:
        product = Product(**fields)
        self.save(product)
        return product.id


def sqlite_catalog(path: str) -> Catalog:
    """A catalog whose events are stored in the SQLite file ``path``."""
    return Catalog(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
