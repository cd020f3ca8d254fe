"""The event store against the real store over TCP."""

import pytest
from pymongo.errors import DuplicateKeyError

from domain.events import ProductCreated, StockAdjusted
from infra.commits import Commit
from infra.eventstore import COMMITS, COMMITS_ONLY, AlreadyCommitted, ConcurrencyConflict, EventStore
from infra.indexes import ensure_indexes

CREATED = ProductCreated(
    sku="MUG-1",
    name="Mug",
    price_cents=1250,
    currency="EUR",
    description=None,
    category=None,
    initial_stock=3,
)


def commit(after, command_id, *events):
    return Commit.new(
        stream_id="p1",
        stream_type="product",
        after_version=after,
        events=list(events) or [StockAdjusted(1, None)],
        command_id=command_id,
        correlation_id=command_id,
    )


def test_commits_load_back_in_order_with_their_events(db):
    store = EventStore(db)
    store.append(commit(0, "c1", CREATED))
    store.append(commit(1, "c2", StockAdjusted(2, "count"), StockAdjusted(-1, None)))
    loaded = store.load("p1")
    assert [(c.version_from, c.version_to, c.command_id) for c in loaded] == [(1, 1, "c1"), (2, 3, "c2")]
    assert loaded[1].domain_events() == [StockAdjusted(2, "count"), StockAdjusted(-1, None)]
    assert [e["version"] for e in loaded[1].events] == [2, 3]
    assert loaded[0].recorded_at.tzinfo is not None
    assert [c.command_id for c in store.load("p1", after_version=1)] == ["c2"]


def test_a_second_writer_at_the_same_version_conflicts(db):
    store = EventStore(db)
    store.append(commit(0, "c1", CREATED))
    with pytest.raises(ConcurrencyConflict):
        store.append(commit(0, "c2", CREATED))
    assert len(store.load("p1")) == 1


def test_the_same_command_cannot_commit_twice(db):
    store = EventStore(db)
    store.append(commit(0, "c1", CREATED))
    store.append(commit(1, "c2"))
    with pytest.raises(AlreadyCommitted) as again:
        store.append(commit(2, "c2"))
    assert again.value.commit.version_from == 2
    assert db[COMMITS].count_documents({"stream_id": "p1", **COMMITS_ONLY}) == 2


def test_after_the_release_ran_twice_the_collection_itself_refuses_a_version_or_a_command_twice(db):
    # Given the release's index setup run again (the db fixture ran it once)
    ensure_indexes(db)
    ensure_indexes(db)
    commits = db[COMMITS]
    commits.insert_one({"stream_id": "p1", "version_from": 1, "command_id": "c1"})
    # When a writer below the store inserts the same version, or the same command, of the stream
    # I expect the collection to refuse both
    with pytest.raises(DuplicateKeyError):
        commits.insert_one({"stream_id": "p1", "version_from": 1, "command_id": "c2"})
    with pytest.raises(DuplicateKeyError):
        commits.insert_one({"stream_id": "p1", "version_from": 2, "command_id": "c1"})
    # and only within one stream: another may hold the same version and command id
    commits.insert_one({"stream_id": "p2", "version_from": 1, "command_id": "c1"})
    assert commits.count_documents({}) == 2
