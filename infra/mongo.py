"""MongoDB connections and the indexes every collection needs."""

from __future__ import annotations

from urllib.parse import urlsplit

import pymongo.errors
from dns.exception import DNSException
from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.write_concern import WriteConcern

from infra.settings import ConfigurationError, Settings

COMMITS = "commits"
SKU_CLAIMS = "sku_claims"
PRODUCTS = "products"
ORDERS = "orders"
DEAD_LETTERS = "dead_letters"
READ_MODEL_POINTERS = "read_models"


def connect(settings: Settings, *, appname: str, **options) -> Database:
    """A database handle.  Call it after forking: pymongo is not fork-safe.

    Raises:
      ConfigurationError: a ``mongodb+srv://`` host's SRV record could not be
        looked up (``connectTimeoutMS`` bounds the lookup, 20 s unless set).
    """
    options = {"tz_aware": True, "appname": appname, "serverSelectionTimeoutMS": 5000, **options}
    try:
        client: MongoClient = MongoClient(settings.mongodb_uri, **options)
    except pymongo.errors.ConfigurationError as exc:
        if not isinstance(exc.__cause__, DNSException):
            raise
        host = urlsplit(settings.mongodb_uri).hostname
        raise ConfigurationError(f"MONGODB_URI: cannot resolve the SRV record for {host}: {exc}") from None
    return client[settings.mongodb_database]


def durable(db: Database, name: str) -> Collection:
    """``name`` with writes acknowledged only once journaled (keeping the
    client's ``w``: set ``w=majority`` in the URI on a replica set).  Without
    it a standalone mongod may lose an acknowledged write on a hard stop,
    after what it called for was sent."""
    w = db.write_concern.document.get("w", 1)
    return db.get_collection(name, write_concern=WriteConcern(w=w, j=True))


def ensure_indexes(db: Database) -> list[str]:
    """Create every index the service relies on, on the event store and on
    the active (and any building) generation of each read model.  Safe to
    run again."""
    from infra.generations import Generations

    commits = db[COMMITS]
    names = [
        # Optimistic concurrency: two writers that loaded the same version
        # cannot both append.
        commits.create_index([("stream_id", ASCENDING), ("version_from", ASCENDING)], unique=True),
        # A redelivered command finds its commit instead of deciding twice.
        commits.create_index([("stream_id", ASCENDING), ("command_id", ASCENDING)], unique=True),
        # The catch-up reads the commits of the last interval (integer
        # milliseconds: date ranges are not exact on every server we run on).
        commits.create_index([("recorded_ms", ASCENDING)]),
        # A rebuild reads every commit in this order.
        commits.create_index([("recorded_at", ASCENDING)]),
        # The outbox sweep: commits not yet marked dispatched, oldest first.
        commits.create_index([("dispatched", ASCENDING), ("recorded_ms", ASCENDING)]),
        db[DEAD_LETTERS].create_index([("stream_id", ASCENDING)]),
    ]
    generations = Generations(db)
    for name in READ_MODEL_INDEXES:
        for collection in generations.targets(name, fresh=True):
            names += read_model_indexes(collection, name)
    return names


def read_model_indexes(collection: Collection, name: str) -> list[str]:
    return [collection.create_index(keys) for keys in READ_MODEL_INDEXES[name]]


def _product_list_indexes() -> list[list[tuple[str, int]]]:
    """``GET /products``: equality filters first, then the sort key and the
    id that breaks ties (a price range rides on the price sort's index)."""
    return [
        [(k, ASCENDING) for k in (*prefix, sort_key, "id")]
        for prefix in ([], ["category"], ["in_stock"], ["category", "in_stock"])
        for sort_key in ("name_key", "price_cents")
    ]


#: Every read model's indexes, created on each new generation too.
READ_MODEL_INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    PRODUCTS: [[("sku", ASCENDING)], *_product_list_indexes()],
    ORDERS: [
        # GET /customers/{id}/orders, newest first, with or without a status.
        [("customer_id", ASCENDING), ("placed_ms", ASCENDING), ("id", ASCENDING)],
        [("customer_id", ASCENDING), ("status", ASCENDING), ("placed_ms", ASCENDING), ("id", ASCENDING)],
    ],
}
