"""MongoDB connections and the indexes every collection needs."""

from __future__ import annotations

from pymongo import ASCENDING, MongoClient
from pymongo.database import Database

from infra.settings import Settings

COMMITS = "commits"
SKU_CLAIMS = "sku_claims"
PRODUCTS = "products"
ORDERS = "orders"


def connect(settings: Settings, *, appname: str, **options) -> Database:
    """A database handle.  Call it after forking: pymongo is not fork-safe."""
    options = {"tz_aware": True, "appname": appname, "serverSelectionTimeoutMS": 5000, **options}
    client: MongoClient = MongoClient(settings.mongodb_uri, **options)
    return client[settings.mongodb_database]


def ensure_indexes(db: Database) -> list[str]:
    """Create every index the service relies on.  Safe to run again."""
    commits = db[COMMITS]
    return [
        # Optimistic concurrency: two writers that loaded the same version
        # cannot both append.
        commits.create_index([("stream_id", ASCENDING), ("version_from", ASCENDING)], unique=True),
        # A redelivered command finds its commit instead of deciding twice.
        commits.create_index([("stream_id", ASCENDING), ("command_id", ASCENDING)], unique=True),
        # The catch-up reads the commits of the last interval.
        commits.create_index([("recorded_at", ASCENDING)]),
        db[PRODUCTS].create_index([("sku", ASCENDING)]),
        *product_list_indexes(db),
        # GET /customers/{id}/orders, newest first, with or without a status.
        db[ORDERS].create_index([("customer_id", ASCENDING), ("placed_ms", ASCENDING), ("id", ASCENDING)]),
        db[ORDERS].create_index(
            [("customer_id", ASCENDING), ("status", ASCENDING), ("placed_ms", ASCENDING), ("id", ASCENDING)]
        ),
    ]


def product_list_indexes(db: Database) -> list[str]:
    """``GET /products``: equality filters first, then the sort key and the
    id that breaks ties (a price range rides on the price sort's index)."""
    names = []
    for prefix in ([], ["category"], ["in_stock"], ["category", "in_stock"]):
        for sort_key in ("name_key", "price_cents"):
            keys = [(k, ASCENDING) for k in (*prefix, sort_key, "id")]
            names.append(db[PRODUCTS].create_index(keys))
    return names
