"""Every index the service relies on, created by the release step (and by
a rebuild on the generation it fills).  Safe to run again."""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from infra import eventstore
from infra.generations import Generations
from infra.mongo import BY_NAME, DEAD_LETTERS, READ_MODELS


def ensure_indexes(db: Database) -> list[str]:
    """The event store's indexes, the dead letters', and each read model's
    on its active (and any building) generation."""
    names = [*eventstore.create_indexes(db), db[DEAD_LETTERS].create_index([("stream_id", ASCENDING)])]
    generations = Generations(db)
    for model in READ_MODELS.values():
        for collection in generations.targets(model.name, fresh=True):
            names += read_model_indexes(collection, model.name)
    return names


def read_model_indexes(collection: Collection, name: str) -> list[str]:
    """Create read model ``name``'s indexes on ``collection`` (a generation of it)."""
    return [collection.create_index(keys) for keys in BY_NAME[name].indexes]
