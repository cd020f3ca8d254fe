"""Events stored in an older schema, written here as raw documents in the
shape the code of that time stored (not by today's code), read by today's:
the write side, projections, rebuilds, snapshots and history."""

from datetime import UTC, datetime

from domain.commands import AdjustStock
from domain.events import ProductCreated, StockAdjusted
from domain.product import Product
from infra.eventstore import COMMITS, COMMITS_ONLY, EventStore
from infra.handover import Handover
from infra.messages import CommandEnvelope, notification
from infra.mongo import PRODUCTS
from infra.snapshots import SNAPSHOTS, Snapshots
from tests.integration.test_rebuild import live_docs, rebuilder
from web.views import HistoryViews
from workers.handler import CommandHandler

OLD = "3c9e1f20-4b5a-4d6e-8f70-a1b2c3d4e5f6"  # created in schema 1, adjusted later
NEW = "3c9e1f20-4b5a-4d6e-8f70-a1b2c3d4e5f7"  # created by today's code
T = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def stored_commit(stream_id, version, events, command_id, at):
    """A commit document as the event store kept them when ProductCreated
    was schema 1 and no event named its schema."""
    return {
        "stream_id": stream_id,
        "stream_type": "product",
        "version_from": version,
        "version_to": version + len(events) - 1,
        "events": [{"type": t, "version": version + i, "data": data} for i, (t, data) in enumerate(events)],
        "command_id": command_id,
        "correlation_id": command_id,
        "causation_id": None,
        "recorded_at": at,
        "recorded_ms": int(at.timestamp() * 1000),
        "command_type": "CreateProduct" if version == 1 else "AdjustStock",
        "submitted_at": at.isoformat(),
        "dispatched": True,
    }


def write_old_stream(db):
    created_v1 = {
        "sku": "OLD-1", "name": "Old mug", "price_cents": 900, "currency": "EUR",
        "description": None, "category": "kitchen", "stock": 7,
    }  # fmt: skip
    db[COMMITS].insert_many(
        [
            stored_commit(OLD, 1, [("ProductCreated", created_v1)], "old-create", T),
            stored_commit(OLD, 2, [("StockAdjusted", {"delta": 3, "reason": "count"})], "old-adjust", T),
        ]
    )


def handler(services, broker, db, every=100):
    statuses = services.commands._statuses
    return CommandHandler(
        EventStore(db), services.commands._skus, Handover(broker, statuses), statuses,
        snapshots=Snapshots(db), snapshot_every={"product": every}, remembered=0,
    )  # fmt: skip


def test_an_old_event_reads_in_todays_shape(db):
    write_old_stream(db)
    [created, adjusted] = [e for c in EventStore(db).load(OLD) for e in c.domain_events()]
    assert created == ProductCreated("OLD-1", "Old mug", 900, "EUR", None, "kitchen", initial_stock=7)
    assert adjusted == StockAdjusted(delta=3, reason="count")


def test_a_stream_of_both_schemas_decides_projects_and_rebuilds_alike(services, broker, db):
    write_old_stream(db)
    write = handler(services, broker, db, every=2)
    # Today's code appends to the old stream (schema 1 and today's events in one stream) ...
    taken = write.handle(CommandEnvelope.wrap(AdjustStock(OLD, -10), command_id="take-all"))
    assert taken.status == "succeeded"  # 7 + 3 in stock: all of it could go
    refused = write.handle(CommandEnvelope.wrap(AdjustStock(OLD, -1), command_id="one-more"))
    assert refused.status == "rejected"
    # ... and makes a product of its own, in schema 2
    from tests.integration.test_commands import create

    write.handle(create(product_id=NEW, sku="NEW-1", command_id="new-create", stock=4))
    stored = [
        e
        for c in db[COMMITS].find({"stream_id": OLD, **COMMITS_ONLY}, sort=[("version_from", 1)])
        for e in c["events"]
    ]
    assert [(e["type"], e.get("schema")) for e in stored] == [
        ("ProductCreated", None),  # as the old code stored it: never rewritten
        ("StockAdjusted", None),
        ("StockAdjusted", 1),
    ]
    assert "stock" in stored[0]["data"] and "initial_stock" not in stored[0]["data"]
    # the snapshot kept on the way holds today's state
    kept = db[SNAPSHOTS].find_one({"_id": OLD})
    assert Product.from_snapshot(kept["state"]).stock_available == 0
    # Live projection of every commit, in order
    for commit in db[COMMITS].find({"version_to": {"$exists": True}}, sort=[("recorded_ms", 1)]):
        services.projector.project(
            notification(EventStore(db).find_by_command(commit["stream_id"], commit["command_id"]))
        )
    live = live_docs(db, PRODUCTS)
    assert (live[OLD]["stock_available"], live[OLD]["version"]) == (0, 3)
    assert live[NEW]["stock_available"] == 4
    # A rebuild from the commits gives the same read model
    rebuilder(services, db).rebuild(PRODUCTS)
    assert live_docs(db, PRODUCTS) == live


def test_history_shows_events_as_stored_with_their_schema(services, broker, db):
    write_old_stream(db)
    handler(services, broker, db).handle(CommandEnvelope.wrap(AdjustStock(OLD, 1), command_id="later"))
    events = HistoryViews(db).events(OLD, stream_type="product")
    assert [(e["type"], e["schema"]) for e in events] == [
        ("ProductCreated", 1),
        ("StockAdjusted", 1),
        ("StockAdjusted", 1),
    ]
    assert events[0]["data"]["stock"] == 7  # the old shape, as stored
