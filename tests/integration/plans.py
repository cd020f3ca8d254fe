"""Whether a read-model query is served by an index, as far as the store
can tell."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection


def assert_served_by_index(
    collection: Collection,
    query: dict[str, Any],
    sort: list[tuple[str, int]],
    keys: list[str],
    *,
    real_mongo: bool,
) -> None:
    """On a real MongoDB, ``query`` sorted by ``sort`` walks an index and
    never sorts in memory.  The embedded store's planner scans whatever
    the indexes, so it shows no plan to check: there, the index on
    ``keys`` (which a real one would walk) must be in place."""
    if real_mongo:
        cursor = collection.find(query)
        plan = str((cursor.sort(sort) if sort else cursor).explain()["queryPlanner"]["winningPlan"])
        assert "IXSCAN" in plan and "'stage': 'SORT'" not in plan, plan
    else:
        indexes = [[k for k, _ in index["key"]] for index in collection.index_information().values()]
        assert keys in indexes, (keys, indexes)


def assert_indexed_for(
    collection: Collection, wanted: list[list[tuple[str, int]]], *, real_mongo: bool
) -> None:
    """Each query one of the ``wanted`` indexes exists for is served by an
    index: equality on its leading keys, sorted on its last two (or
    equality on its only key)."""
    for index in wanted:
        keys = [k for k, _ in index]
        equal, ordered = (keys[:-2], keys[-2:]) if len(keys) > 1 else (keys, [])
        assert_served_by_index(
            collection, {k: "x" for k in equal}, [(k, 1) for k in ordered], keys, real_mongo=real_mongo
        )
