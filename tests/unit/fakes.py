"""Fakes for the web tier's collaborators, and a test client built on them."""

import time
import uuid

from falcon import testing

from infra.commandbus import Accepted
from infra.settings import Settings
from web.app import create_app
from web.bootstrap import WebAdapters
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


class FakeProgress:
    """Stream heads and the newest applied time, as the projector would keep them."""

    channel = "signals"

    def __init__(self, heads=None, newest=None):
        self.heads_by_id = heads or {}
        self.newest = newest

    def heads(self, stream_ids):
        return {s: self.heads_by_id[s] for s in stream_ids if s in self.heads_by_id}

    def newest_applied(self, collection):
        return self.newest


class FakeVersions:
    """Read-model versions by stream id; a test moves them along."""

    def __init__(self, versions=None):
        self.versions = versions or {}

    def __call__(self, stream_type, stream_id):
        return self.versions.get(stream_id, 0)


class FakeHub:
    """Signals nothing: waits run on their timers."""

    def watch(self, keys):
        return FakeWatch()


class FakeWatch:
    def wait(self, timeout):
        time.sleep(max(timeout, 0))
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class FakeHistory:
    def __init__(self, streams=None):
        self.streams = streams or {}

    def events(self, stream_id, stream_type):
        return self.streams.get(stream_id)


IDS = [uuid.UUID(int=i) for i in range(1, 100)]
VALID = {"sku": "MUG-1", "name": "Mug", "price_cents": 1250, "currency": "EUR"}


class FakeScrape:
    """A scrape-time collector with nothing to add."""

    def collect(self):
        return iter(())


def make_client(**fakes) -> testing.TestClient:
    ids = iter(IDS)
    collaborators = {
        "command_bus": FakeCommandBus(),
        "statuses": FakeStatuses(),
        "product_views": FakeViews(),
        "order_views": FakeOrderViews(),
        "progress": FakeProgress(),
        "hub": FakeHub(),
        "versions": FakeVersions(),
        "history": FakeHistory(),
        "ready_checks": {"redis": lambda: True, "mongodb": lambda: True},
        "scrape": FakeScrape(),
        **fakes,
    }
    settings = collaborators.pop(
        "settings", Settings(mongodb_uri="", mongodb_database="", redis_url="", allow_anonymous=True)
    )
    return testing.TestClient(create_app(settings, WebAdapters(**collaborators), uuidgen=lambda: next(ids)))
