"""Snapshots against the real store: a command's load reads the newest
snapshot and only the commits after it; snapshots are a cache that no
decision depends on."""

import threading

from pymongo import monitoring

from domain.commands import AdjustStock, CreateProduct, ReleaseStock, ReserveStock
from domain.events import ProductCreated, StockAdjusted
from domain.product import Product
from infra.commits import Commit
from infra.eventstore import EventStore
from infra.handover import Handover
from infra.messages import CommandEnvelope
from infra.mongo import connect
from infra.snapshots import SNAPSHOTS, Snapshots
from workers.handler import CommandHandler

PRODUCT = "7a1c0e52-3b9d-4f6e-8c21-5d4e3f2a1b00"
TWIN = "7a1c0e52-3b9d-4f6e-8c21-5d4e3f2a1b01"
ORDER = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"
EVERY = 100


class CountingStore(EventStore):
    """Counts the events each load returns."""

    def __init__(self, db):
        super().__init__(db)
        self.read: list[int] = []

    def load(self, stream_id, after_version=0):
        commits = super().load(stream_id, after_version)
        self.read.append(sum(len(c.events) for c in commits))
        return commits


def handler_on(services, broker, store, every=EVERY, snapshots=None, remembered=0):
    """A handler that, unless told to remember, knows nothing of its own
    last loads: every load starts from the stream's snapshot, as a worker
    process's first load of a stream does."""
    statuses = services.commands._statuses
    return CommandHandler(
        store,
        services.commands._skus,
        Handover(broker, statuses),
        statuses,
        snapshots=snapshots if snapshots is not None else Snapshots(store._commits.database),
        snapshot_every={"product": every, "order": every},
        remembered=remembered,
    )


def seed(db, events: int, per_commit: int = 10, stream_id: str = PRODUCT) -> None:
    """A product stream of ``events`` events, imported as stored documents."""
    created = ProductCreated("LONG-1", "Mug", 100, "EUR", None, None, 0)
    commits, version = [], 0
    while version < events:
        batch = [created] if version == 0 else []
        batch += [StockAdjusted(delta=1, reason=None)] * (min(per_commit, events - version) - len(batch))
        commits.append(
            Commit.new(
                stream_id=stream_id,
                stream_type="product",
                after_version=version,
                events=batch,
                command_id=f"seed-{stream_id}-{version}",
                correlation_id="seed",
            )
        )
        version += len(batch)
    EventStore(db).import_commits(commits)


def adjust(delta, command_id, product_id=PRODUCT):
    return CommandEnvelope.wrap(AdjustStock(product_id=product_id, delta=delta), command_id=command_id)


def test_a_command_on_a_stream_of_5000_events_reads_at_most_every_events(services, broker, db):
    seed(db, 5000)
    store = CountingStore(db)
    handler = handler_on(services, broker, store)
    # The first command finds no snapshot: it replays everything, and keeps one.
    assert handler.handle(adjust(1, "c-1")).status == "succeeded"
    assert store.read == [5000]
    # Every later one reads at most EVERY events (plus one commit's).
    for i in range(2, 2 + 2 * EVERY):
        assert handler.handle(adjust(1, f"c-{i}")).status == "succeeded"
    assert max(store.read[1:]) <= EVERY
    state = Product.from_snapshot(db[SNAPSHOTS].find_one({"_id": PRODUCT})["state"])
    assert (
        state.stock_available
        == Product.replay(e for c in EventStore(db).load(PRODUCT) for e in c.domain_events()).stock_available
    )


class Trips(monitoring.CommandListener):
    def __init__(self):
        self.names = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def test_a_load_with_a_snapshot_takes_two_round_trips(services, broker, db, settings):
    seed(db, 500)
    handler_on(services, broker, EventStore(db)).handle(adjust(1, "c-keep"))  # keeps a snapshot
    trips = Trips()
    counted = connect(settings, appname="tests-snapshot-trips", event_listeners=[trips])
    try:
        handler = handler_on(services, broker, EventStore(counted), snapshots=Snapshots(counted))
        handler.handle(adjust(1, "c-counted"))
        sent = list(trips.names)
    finally:
        counted.client.close()
    # the snapshot, the commits from the one that reached it, the commit
    assert sent == ["find", "find", "insert"]


def test_a_handler_loads_only_what_came_after_its_own_last_commit(services, broker, db, settings):
    seed(db, 500)
    trips = Trips()
    counted = connect(settings, appname="tests-recent-trips", event_listeners=[trips])
    try:
        store = CountingStore(counted)
        handler = handler_on(services, broker, store, snapshots=Snapshots(counted), remembered=10)
        handler.handle(adjust(1, "c-first"))  # snapshot, 500 events, commit, snapshot kept
        trips.names.clear()
        handler.handle(adjust(1, "c-second"))
        # Another process commits meanwhile: the next load reads its commit too
        handler_on(services, broker, EventStore(db)).handle(adjust(1, "c-elsewhere"))
        handler.handle(adjust(1, "c-third"))
        sent = list(trips.names)
    finally:
        counted.client.close()
    assert sent == ["find", "insert", "find", "insert"]  # no snapshot read, no replay
    assert store.read == [500, 1, 2]  # from the commit it made last (checked), and what came after
    state = Product.replay(e for c in EventStore(db).load(PRODUCT) for e in c.domain_events())
    assert (state.stock_available, state.version) == (499 + 4, 500 + 4)


def test_deleting_every_snapshot_changes_no_decision(services, broker, db):
    # The same commands on two streams alike: one with a snapshot every 7
    # events (deleted halfway), one without snapshots.
    seed(db, 300)
    seed(db, 300, stream_id=TWIN)
    snapshotted = handler_on(services, broker, EventStore(db), every=7)
    plain = handler_on(services, broker, EventStore(db), every=0)
    for i in range(40):
        if i == 20:
            assert Snapshots(db).delete() == 1
        delta = -400 if i % 9 == 0 else (3 if i % 2 else -2)  # some the domain refuses
        a = snapshotted.handle(adjust(delta, f"c-{i}"))
        b = plain.handle(adjust(delta, f"c-twin-{i}", product_id=TWIN))
        assert (a.status, a.version, a.error) == (b.status, b.version, b.error)

    def events_of(stream_id):
        commits = EventStore(db).load(stream_id)
        return [(e["type"], e["version"], e["data"]) for c in commits for e in c.events]

    assert events_of(PRODUCT) == events_of(TWIN)
    assert db[SNAPSHOTS].count_documents({"_id": TWIN}) == 0
    kept = db[SNAPSHOTS].find_one({"_id": PRODUCT})
    assert Product.from_snapshot(kept["state"]) == Product.replay(
        e for c in EventStore(db).load(PRODUCT) for e in c.domain_events() if c.version_to <= kept["version"]
    )


def test_a_snapshot_of_another_schema_is_ignored_and_replaced(services, broker, db):
    seed(db, 50)
    wrong = {
        **Product.replay([ProductCreated("LONG-1", "Mug", 100, "EUR", None, None, 0)]).to_snapshot(),
        "version": 50,
        "stock_available": 999_999,
    }
    db[SNAPSHOTS].insert_one(
        {"_id": PRODUCT, "stream_type": "product", "schema": "Product/0/old", "version": 50, "state": wrong}
    )
    store = CountingStore(db)
    handler = handler_on(services, broker, store, every=10)
    # Taking 100 would succeed with the wrong snapshot's stock: 49 are there.
    assert handler.handle(adjust(-100, "c-too-many")).status == "rejected"
    assert handler.handle(adjust(-49, "c-all")).status == "succeeded"
    assert store.read[0] == 50
    kept = db[SNAPSHOTS].find_one({"_id": PRODUCT})
    assert kept["schema"] == Product.snapshot_schema() and kept["state"]["stock_available"] == 0


def test_two_writers_keep_the_newer_snapshot(db):
    snapshots = Snapshots(db)
    state = Product.replay([ProductCreated("S", "Mug", 1, "EUR", None, None, 3)]).to_snapshot()
    schema = Product.snapshot_schema()
    results = []
    barrier = threading.Barrier(2)

    def first(version):
        barrier.wait()
        results.append(snapshots.save(PRODUCT, "product", schema, version, state, f"c-{version}"))

    threads = [threading.Thread(target=first, args=(v,)) for v in (5, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True]  # each finds one as new kept, whichever wrote first
    assert snapshots.load(PRODUCT, "product", schema).version == 6
    assert snapshots.save(PRODUCT, "product", schema, 9, state, "c-9")
    assert snapshots.save(PRODUCT, "product", schema, 7, state, "c-7")  # older: 9 stays
    assert (snapshots.load(PRODUCT, "product", schema).version, db[SNAPSHOTS].count_documents({})) == (9, 1)


def test_snapshots_deleted_under_a_running_worker_come_back(services, broker, db):
    seed(db, 30)
    handler = handler_on(services, broker, EventStore(db), every=5, remembered=10)  # as a worker runs
    for i in range(6):
        handler.handle(adjust(1, f"c-{i}"))
    assert Snapshots(db).delete() == 1
    for i in range(6, 12):
        handler.handle(adjust(1, f"c-{i}"))
    kept = db[SNAPSHOTS].find_one({"_id": PRODUCT})
    assert kept is not None and kept["version"] >= 36


def test_a_snapshot_ahead_of_the_commits_is_not_decided_on(services, broker, db):
    # As after restoring the store from a backup without its snapshots, or
    # a failover that rolled the last commits back: the snapshot says more
    # than the commits hold.
    seed(db, 50, per_commit=1)
    handler_on(services, broker, EventStore(db), every=10).handle(adjust(1, "c-51"))
    assert db[SNAPSHOTS].find_one({"_id": PRODUCT})["version"] == 51
    db.commits.delete_many({"stream_id": PRODUCT, "version_from": {"$gt": 40}})
    outcome = handler_on(services, broker, EventStore(db), every=10).handle(adjust(1, "c-after"))
    assert outcome.status == "succeeded" and outcome.commit.version_from == 41  # no gap
    state = Product.replay(e for c in EventStore(db).load(PRODUCT) for e in c.domain_events())
    assert (state.version, state.stock_available) == (41, 39 + 1)
    assert db[SNAPSHOTS].find_one({"_id": PRODUCT})["version"] == 41  # replaced by a true one


def test_a_reservation_delivered_again_after_its_release_reserves_nothing(services, broker, db):
    # A product keeps no set of settled orders: the store's unique command
    # index is what decides a ReserveStock once, snapshot or not.
    handler = handler_on(services, broker, EventStore(db), every=1)  # a snapshot after every command
    create = CreateProduct(
        product_id=PRODUCT, sku="RES-1", name="Mug", price_cents=100, currency="EUR", stock=5
    )
    assert handler.handle(CommandEnvelope.wrap(create, command_id="c-create")).status == "succeeded"
    reserve = CommandEnvelope.wrap(
        ReserveStock(product_id=PRODUCT, order_id=ORDER, quantity=2, currency="EUR"),
        command_id="c-reserve",
        causation_id="c-place",
    )
    assert handler.handle(reserve).status == "succeeded"
    handler.handle(CommandEnvelope.wrap(AdjustStock(PRODUCT, 1), command_id="c-more"))
    release = ReleaseStock(PRODUCT, ORDER)
    handler.handle(CommandEnvelope.wrap(release, command_id="c-release", causation_id="c-cancel"))
    before = Product.replay(e for c in EventStore(db).load(PRODUCT) for e in c.domain_events())
    assert (before.stock_available, before.stock_reserved, before.version) == (6, 0, 4)
    assert db[SNAPSHOTS].find_one({"_id": PRODUCT})["version"] == 4  # loads start after the release
    # The reservation comes again (a redelivery, an outbox sending it again)
    again = handler.handle(reserve)
    after = Product.replay(e for c in EventStore(db).load(PRODUCT) for e in c.domain_events())
    assert (after.stock_available, after.stock_reserved, after.version) == (6, 0, 4)
    assert again.status == "succeeded" and again.commit.version_to == 2  # its first commit's answer
