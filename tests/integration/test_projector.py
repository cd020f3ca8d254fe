"""Read models against the real store: duplicated, reordered and missed
notifications all converge on the same document."""

import random

from domain.events import ProductCreated, StockAdjusted
from infra.commits import Commit
from infra.eventstore import EventStore
from infra.messages import notification, parse_rfc3339
from infra.mongo import PRODUCTS
from workers.projector import Projector

STREAM = "9d7c2b1a-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
CREATED = ProductCreated(
    sku="MUG-1",
    name="Mug",
    price_cents=1250,
    currency="EUR",
    description="big",
    category="kitchen",
    initial_stock=10,
)


def write_history(db, adjustments):
    store = EventStore(db)
    commits = []
    version = 0
    for i, events in enumerate([[CREATED], *adjustments]):
        commit = Commit.new(
            stream_id=STREAM, stream_type="product", after_version=version, events=events,
            command_id=f"c{i}", correlation_id=f"c{i}",
        )  # fmt: skip
        store.append(commit)
        commits.append(commit)
        version = commit.version_to
    return [notification(c) for c in commits]


ADJUSTMENTS = [
    [StockAdjusted(-1, None)],
    [StockAdjusted(5, "delivery"), StockAdjusted(-2, None)],
    [StockAdjusted(-3, None)],
    [StockAdjusted(1, "found one")],
]


def test_notifications_in_order_build_the_document(db):
    notes = write_history(db, ADJUSTMENTS)
    projector = Projector(EventStore(db), db)
    for note in notes:
        assert projector.project(note).changed
    doc = db[PRODUCTS].find_one({"_id": STREAM})
    assert (doc["version"], doc["stock_available"], doc["stock_reserved"]) == (6, 10, 0)
    assert doc["created_at"] == parse_rfc3339(notes[0]["recorded_at"])
    assert doc["updated_at"] == parse_rfc3339(notes[-1]["recorded_at"])


def test_duplicated_and_reordered_notifications_converge(db):
    notes = write_history(db, ADJUSTMENTS)
    projector = Projector(EventStore(db), db)
    for note in notes:
        projector.project(note)
    expected = db[PRODUCTS].find_one({"_id": STREAM})
    rng = random.Random(20261126)
    for _ in range(8):
        db[PRODUCTS].delete_many({})
        shuffled = notes + rng.sample(notes, k=3)  # some twice
        rng.shuffle(shuffled)
        for note in shuffled:
            projector.project(note)
        assert db[PRODUCTS].find_one({"_id": STREAM}) == expected


def test_a_missed_notification_is_filled_from_the_store(db):
    notes = write_history(db, ADJUSTMENTS)
    projector = Projector(EventStore(db), db)
    # only the last notification arrives
    applied = projector.project(notes[-1])
    assert applied.version == 6 and applied.changed
    assert db[PRODUCTS].find_one({"_id": STREAM})["stock_available"] == 10
    # the others, late, change nothing
    assert not any(projector.project(n).changed for n in notes)
