"""Fakes for the web tier's collaborators, and a test client built on them."""

import uuid

from falcon import testing

from infra.commandbus import Accepted
from web.app import create_app
from web.views import Page


class FakeCommandBus:
    def __init__(self):
        self.submitted = []
        self.keys = []

    def submit(self, envelope, response, idempotency=None):
        self.submitted.append(envelope)
        self.keys.append(idempotency)
        return Accepted(response)


class FakeStatuses:
    def __init__(self, records=()):
        self.records = {r["command_id"]: r for r in records}

    def get(self, command_id):
        return self.records.get(command_id)


class FakeViews:
    def __init__(self, products=()):
        self.products = {p["id"]: p for p in products}
        self.listed = []

    def get(self, product_id):
        return self.products.get(product_id)

    def list(self, where, sort, limit, after=None):
        self.listed.append((where, sort, limit, after))
        items = sorted(self.products.values(), key=lambda p: p["id"])
        return Page(
            items[:limit], [items[limit - 1]["name"], items[limit - 1]["id"]] if len(items) > limit else None
        )


class FakeOrderViews:
    def __init__(self, orders=()):
        self.orders = {o["id"]: o for o in orders}
        self.listed = []

    def get(self, order_id):
        return self.orders.get(order_id)

    def for_customer(self, customer_id, status, limit, after=None):
        self.listed.append((customer_id, status, limit, after))
        items = [o for o in self.orders.values() if o["customer_id"] == customer_id]
        more = len(items) > limit
        return Page(items[:limit], [items[limit - 1]["placed_at"], items[limit - 1]["id"]] if more else None)


class FakeHistory:
    def __init__(self, streams=None):
        self.streams = streams or {}

    def events(self, stream_id, stream_type):
        return self.streams.get(stream_id)


IDS = [uuid.UUID(int=i) for i in range(1, 100)]
VALID = {"sku": "MUG-1", "name": "Mug", "price_cents": 1250, "currency": "EUR"}


def make_client(**fakes) -> testing.TestClient:
    ids = iter(IDS)
    collaborators = {
        "command_bus": FakeCommandBus(),
        "statuses": FakeStatuses(),
        "product_views": FakeViews(),
        "order_views": FakeOrderViews(),
        "history": FakeHistory(),
        "uuidgen": lambda: next(ids),
        **fakes,
    }
    return testing.TestClient(create_app(**collaborators))
