"""MongoDB connections, the collections' names, and where each stream
kind's read model lives (with the indexes its queries need)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pymongo.errors
from dns.exception import DNSException
from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.write_concern import WriteConcern

from domain.streams import ORDER, PRODUCT
from infra.settings import ConfigurationError, Settings

# (The event store's collection is named in infra/eventstore.py alone.)
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


Index = list[tuple[str, int]]


def _product_list_indexes() -> list[Index]:
    """``GET /products``: equality filters first, then the sort key and the
    id that breaks ties (a price range rides on the price sort's index)."""
    return [
        [(k, ASCENDING) for k in (*prefix, sort_key, "id")]
        for prefix in ([], ["category"], ["in_stock"], ["category", "in_stock"])
        for sort_key in ("name_key", "price_cents")
    ]


@dataclass(frozen=True)
class ReadModel:
    """Where a stream kind's read-model documents live."""

    #: The read model's name: the collection of its first generation, and
    #: the ``_id`` of its pointer (infra/generations.py).
    name: str
    stream_type: str
    #: Created on every generation.
    indexes: list[Index]


#: Stream kind -> its read model: the adapters' one table of them.
READ_MODELS: dict[str, ReadModel] = {
    PRODUCT: ReadModel(PRODUCTS, PRODUCT, [[("sku", ASCENDING)], *_product_list_indexes()]),
    ORDER: ReadModel(
        ORDERS,
        ORDER,
        [
            # GET /customers/{id}/orders, newest first, with or without a status.
            [("customer_id", ASCENDING), ("placed_ms", ASCENDING), ("id", ASCENDING)],
            [("customer_id", ASCENDING), ("status", ASCENDING), ("placed_ms", ASCENDING), ("id", ASCENDING)],
        ],
    ),
}

#: The same, by read-model name.
BY_NAME: dict[str, ReadModel] = {model.name: model for model in READ_MODELS.values()}

#: Every read model's indexes, by its name.
READ_MODEL_INDEXES: dict[str, list[Index]] = {model.name: model.indexes for model in READ_MODELS.values()}
