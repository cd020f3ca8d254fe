"""The command side against the real Redis and store: the handler alone,
and through a real Dramatiq worker."""

import threading
import time

import pytest

from domain.commands import AdjustStock, CreateProduct
from infra.eventstore import COMMITS, COMMITS_ONLY, EventStore
from infra.handover import Handover
from infra.messages import CommandEnvelope, command_message
from infra.mongo import PRODUCTS, SKU_CLAIMS, connect
from infra.settings import Settings
from infra.skus import Claim
from infra.statuses import CommandStatuses, record
from workers.bootstrap import build_services
from workers.handler import CommandHandler, SkuClaimPending

PRODUCT = "0b7d1f9e-8a55-4a3b-9d35-2f1f2a5b7c01"
OTHER = "5c2e4f4b-1d7e-4d43-9c7e-0f3a5e9d8b02"


def create(product_id=PRODUCT, sku="MUG-1", command_id="c-create", stock=5):
    return CommandEnvelope.wrap(
        CreateProduct(
            product_id=product_id, sku=sku, name="Mug", price_cents=1250, currency="EUR", stock=stock
        ),
        command_id=command_id,
    )


def adjust(delta, command_id, product_id=PRODUCT):
    return CommandEnvelope.wrap(AdjustStock(product_id=product_id, delta=delta), command_id=command_id)


def statuses_of(services, *ids):
    return [services.commands._statuses.get(i)["status"] for i in ids]


class RacingStore(EventStore):
    """Makes the first load of each of two threads wait for the other, so
    both decide against the same version."""

    def __init__(self, db, parties=2):
        super().__init__(db)
        self._barrier = threading.Barrier(parties, timeout=10)
        self._seen = threading.local()
        self.loads = 0

    def load(self, stream_id, after_version=0):
        commits = super().load(stream_id, after_version)
        self.loads += 1
        if not getattr(self._seen, "waited", False):
            self._seen.waited = True
            self._barrier.wait()
        return commits


def test_two_commands_racing_on_one_stream_both_land_in_order(services, db, broker):
    # Given a product with 5 in stock
    services.commands.handle(create())
    # When two adjustments load the same version and race to append
    store = RacingStore(db)
    statuses = services.commands._statuses
    handler = CommandHandler(store, services.commands._skus, Handover(broker, statuses), statuses)
    errors = []

    def run(envelope):
        try:
            handler.handle(envelope)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(adjust(d, f"c-{d}"),)) for d in (-2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    # I expect both to land, one after the other, with gapless versions
    assert errors == []
    assert store.loads == 3, "the loser reloads once"
    commits = EventStore(db).load(PRODUCT)
    assert [(c.version_from, c.version_to) for c in commits] == [(1, 1), (2, 2), (3, 3)]
    assert {c.command_id for c in commits[1:]} == {"c--2", "c-3"}
    assert statuses_of(services, "c--2", "c-3") == ["succeeded", "succeeded"]


def test_a_race_is_decided_again_against_the_new_state(services, db, broker):
    # Given 5 in stock and two takes of 3 loading the same version
    services.commands.handle(create())
    store = RacingStore(db)
    statuses = services.commands._statuses
    handler = CommandHandler(store, services.commands._skus, Handover(broker, statuses), statuses)
    threads = [threading.Thread(target=handler.handle, args=(adjust(-3, f"take-{i}"),)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    # I expect the loser to be refused on reload, not to oversell
    assert sorted(statuses_of(services, "take-1", "take-2")) == ["rejected", "succeeded"]
    assert len(EventStore(db).load(PRODUCT)) == 2


def test_one_message_delivered_twice_gives_one_commit(broker, worker, services, db):
    # Given the same command message enqueued twice (an at-least-once redelivery)
    envelope = create()
    services.commands._statuses.accept(envelope)
    broker.enqueue(command_message(envelope))
    broker.enqueue(command_message(envelope))
    # When the worker has processed both, and the notifications
    broker.join("commands", timeout=20_000)
    broker.join("projections", timeout=20_000)
    worker.join()
    # I expect one commit, a succeeded status and a projected product
    assert db[COMMITS].count_documents({"stream_id": PRODUCT, **COMMITS_ONLY}) == 1
    status = services.commands._statuses.get(envelope.command_id)
    assert (status["status"], status["version"], status["stream_id"]) == ("succeeded", 1, PRODUCT)
    assert db[PRODUCTS].find_one({"_id": PRODUCT})["version"] == 1


def test_a_duplicate_sku_is_rejected(broker, worker, services, db):
    # Given a product created with SKU MUG-1 (the worker's threads take
    # messages side by side: the second create is sent once the first is done)
    first, second = create(command_id="c1"), create(product_id=OTHER, command_id="c2")
    for envelope in (first, second):
        services.commands._statuses.accept(envelope)
        broker.enqueue(command_message(envelope))
        broker.join("commands", timeout=20_000)
        worker.join()
    broker.join("projections", timeout=20_000)
    worker.join()
    rejected = services.commands._statuses.get("c2")
    assert rejected["status"] == "rejected"
    assert rejected["error"]["code"] == "duplicate_sku"
    assert rejected["completed_at"] is not None
    assert db[COMMITS].count_documents({"stream_id": OTHER, **COMMITS_ONLY}) == 0
    assert db[PRODUCTS].find_one({"_id": OTHER}) is None
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-1"})["product_id"] == PRODUCT


def test_a_crash_between_commit_and_publish_loses_no_announcement(services, broker, db, worker):
    # Given a publisher that dies the first time (after the commit)
    class DiesOnce(Handover):
        calls = 0

        def hand_over(self, *args, **kwargs):
            DiesOnce.calls += 1
            if DiesOnce.calls == 1:
                raise ConnectionError("worker killed here")
            super().hand_over(*args, **kwargs)

    statuses = services.commands._statuses
    handler = CommandHandler(EventStore(db), services.commands._skus, DiesOnce(broker, statuses), statuses)
    envelope = create()
    with pytest.raises(ConnectionError):
        handler.handle(envelope)
    assert db[COMMITS].count_documents(COMMITS_ONLY) == 1
    # When the message is redelivered
    handler.handle(envelope)
    broker.join("projections", timeout=20_000)
    worker.join()
    # I expect the same single commit, announced and projected
    assert db[COMMITS].count_documents(COMMITS_ONLY) == 1
    assert db[PRODUCTS].find_one({"_id": PRODUCT})["version"] == 1
    assert services.commands._statuses.get(envelope.command_id)["status"] == "succeeded"


def test_store_faults_end_failed_when_retries_run_out(settings, broker, db):
    from dramatiq import Worker

    from infra.embedded import free_port
    from workers.actors import declare

    # Given workers whose store does not answer
    down = Settings(
        mongodb_uri=f"mongodb://127.0.0.1:{free_port()}/x",
        mongodb_database="x",
        redis_url=settings.redis_url,
        redis_namespace=settings.redis_namespace,
    )
    services = build_services(down, broker, db=connect(down, appname="tests", serverSelectionTimeoutMS=200))
    declare(broker, lambda: services)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        envelope = create()
        services.commands._statuses.accept(envelope)
        message = command_message(envelope)
        broker.enqueue(message.copy(options={"max_retries": 1, "min_backoff": 10, "max_backoff": 20}))
        broker.join("commands", timeout=30_000)
        worker.join()
    finally:
        worker.stop()
        services.commands._store._commits.database.client.close()
    # I expect the command failed, with the reason
    status = services.commands._statuses.get(envelope.command_id)
    assert status["status"] == "failed"
    assert status["error"]["code"] == "failed"
    assert "ServerSelectionTimeoutError" in status["error"]["detail"]


def test_a_claim_left_by_a_failed_command_is_taken_over(services, db):
    from workers.handler import CLAIM_GRACE_S

    # Given a SKU claimed by a command that failed before committing, and
    # not worked on since for longer than any delivery of it can run
    idle_ms = int((time.time() - CLAIM_GRACE_S - 5) * 1000)
    stale = Claim(sku="MUG-1", product_id=OTHER, command_id="c-dead", claimed_ms=idle_ms)
    services.commands._skus.insert(stale)
    statuses = services.commands._statuses
    statuses.finish(
        create(product_id=OTHER, command_id="c-dead"), "failed", error={"code": "failed", "detail": "x"}
    )
    # When another product is created with that SKU
    outcome = services.commands.handle(create())
    # I expect it to win the SKU
    assert outcome.status == "succeeded"
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-1"})["product_id"] == PRODUCT


def test_a_failed_commands_claim_is_kept_while_a_delivery_of_it_may_still_commit(services, db):
    # Given a SKU claimed moments ago by a command now marked failed: another
    # delivery of it (a worker paused past its heartbeat) may still commit
    services.commands._skus.insert(Claim(sku="MUG-1", product_id=OTHER, command_id="c-slow"))
    services.commands._statuses.finish(
        create(product_id=OTHER, command_id="c-slow"), "failed", error={"code": "failed", "detail": "x"}
    )
    # When another product asks for the SKU, I expect it to wait
    with pytest.raises(SkuClaimPending):
        services.commands.handle(create())
    # and when the slow delivery commits after all, it keeps its SKU
    assert services.commands.handle(create(product_id=OTHER, command_id="c-slow")).status == "succeeded"
    assert services.commands._statuses.get("c-slow")["status"] == "succeeded"
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-1"})["product_id"] == OTHER


def test_a_claim_held_by_a_command_still_on_its_way_is_waited_for(services, db):
    services.commands._skus.insert(Claim(sku="MUG-1", product_id=OTHER, command_id="c-busy"))
    services.commands._statuses._write(record(create(product_id=OTHER, command_id="c-busy"), "accepted"))
    with pytest.raises(SkuClaimPending):
        services.commands.handle(create())
    assert db[COMMITS].count_documents(COMMITS_ONLY) == 0


def test_a_rejected_create_frees_its_sku(services, db):
    services.commands.handle(create())
    # the same product id again (a collision), with a new SKU: refused
    outcome = services.commands.handle(create(sku="MUG-2", command_id="c-again"))
    assert outcome.status == "rejected" and outcome.error.code == "product_exists"
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-2"}) is None


def test_a_rejected_create_delivered_again_still_frees_its_sku(services, db):
    services.commands.handle(create())
    again = create(sku="MUG-2", command_id="c-again")
    services.commands.handle(again)
    # When the refused create comes again (its ack was lost, say)
    outcome = services.commands.handle(again)
    # I expect the same refusal, and its SKU free for another product
    assert outcome.status == "rejected" and outcome.error.code == "product_exists"
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-2"}) is None
    other = services.commands.handle(create(product_id=OTHER, sku="MUG-2", command_id="c-other"))
    assert other.status == "succeeded"


def test_a_sku_held_by_a_refused_create_is_taken_over(services, db):
    # Given a create refused after it claimed its SKU, whose release never
    # happened (its process died in between)
    services.commands.handle(create())
    again = create(sku="MUG-2", command_id="c-again")
    services.commands.handle(again)
    claimed_ms = int(time.time() * 1000)
    db[SKU_CLAIMS].insert_one(
        {"_id": "MUG-2", "product_id": PRODUCT, "command_id": "c-again", "claimed_ms": claimed_ms}
    )
    # I expect another product to take the SKU: the holder can never commit
    other = services.commands.handle(create(product_id=OTHER, sku="MUG-2", command_id="c-other"))
    assert other.status == "succeeded"
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-2"})["product_id"] == OTHER


def test_giving_up_after_the_commit_landed_reports_success(services, db, broker):
    # Given a command whose commit landed but whose announcement kept failing
    class NeverPublishes(Handover):
        def hand_over(self, *args, **kwargs):
            raise ConnectionError("broker down")

    statuses = services.commands._statuses
    handler = CommandHandler(
        EventStore(db), services.commands._skus, NeverPublishes(broker, statuses), statuses
    )
    envelope = create()
    with pytest.raises(ConnectionError):
        handler.handle(envelope)
    # When the retries run out
    services.commands.give_up(envelope, ConnectionError("broker down"))
    # I expect the status to tell the truth: it took effect
    status = services.commands._statuses.get(envelope.command_id)
    assert (status["status"], status["version"]) == ("succeeded", 1)
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-1"})["command_id"] == envelope.command_id


def test_a_rejection_stays_final_when_the_message_comes_again(services, db):
    # Given a take of 9 refused with 5 in stock
    services.commands.handle(create())
    take = adjust(-9, "c-take")
    assert services.commands.handle(take).status == "rejected"
    # When stock arrives, then the refused message is delivered again
    services.commands.handle(adjust(10, "c-delivery"))
    outcome = services.commands.handle(take)
    # I expect it still refused, and not applied
    assert outcome.status == "rejected"
    assert services.commands._statuses.get("c-take")["status"] == "rejected"
    assert [c.command_id for c in EventStore(db).load(PRODUCT)] == ["c-create", "c-delivery"]


def test_a_final_status_is_never_overwritten_by_another(services):
    envelope = create()
    statuses = services.commands._statuses
    statuses.finish(envelope, "succeeded", version=1)
    statuses.finish(envelope, "rejected", error={"code": "duplicate_sku", "detail": "x"})
    statuses.finish(envelope, "failed", error={"code": "failed", "detail": "x"})
    assert statuses.get(envelope.command_id)["status"] == "succeeded"


def test_a_holder_that_committed_keeps_its_sku_whatever_its_status_says(services, db):
    # Given a product committed, whose status says failed (its store was
    # unreachable when its retries ran out)
    holder = create(product_id=OTHER, command_id="c-holder")
    services.commands.handle(holder)
    services.commands._statuses._write(record(holder, "failed"))
    # When another product asks for the SKU, I expect a refusal
    outcome = services.commands.handle(create(command_id="c-new"))
    assert outcome.status == "rejected" and outcome.error.code == "duplicate_sku"


def test_a_claim_whose_holder_vanished_is_taken_over_after_its_lease(services, db):
    from workers.handler import CLAIM_LEASE_S

    # Given a claim whose holder is "accepted" but has not been seen for a lease
    services.commands._skus.insert(
        Claim(
            sku="MUG-1",
            product_id=OTHER,
            command_id="c-lost",
            claimed_ms=int((time.time() - CLAIM_LEASE_S - 5) * 1000),
        )
    )
    services.commands._statuses._write(record(create(product_id=OTHER, command_id="c-lost"), "accepted"))
    # I expect a new create to take it over
    assert services.commands.handle(create()).status == "succeeded"
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-1"})["command_id"] == "c-create"


def test_giving_up_with_the_store_down_keeps_the_sku_claimed(settings, broker, db):
    from infra.embedded import free_port

    live = build_services(settings, broker, db=db)
    envelope = create()
    live.commands._claim_sku(command_from_envelope(envelope), envelope)
    down = Settings(
        mongodb_uri=f"mongodb://127.0.0.1:{free_port()}/x",
        mongodb_database="x",
        redis_url=settings.redis_url,
        redis_namespace=settings.redis_namespace,
    )
    dead_db = connect(down, appname="tests", serverSelectionTimeoutMS=100)
    try:
        broken = build_services(settings, broker, db=dead_db)
        broken.commands.give_up(envelope, ConnectionError("store down"))
    finally:
        dead_db.client.close()
    assert live.commands._statuses.get(envelope.command_id)["status"] == "failed"
    assert db[SKU_CLAIMS].find_one({"_id": "MUG-1"})["command_id"] == envelope.command_id


def command_from_envelope(envelope):
    from domain.commands import command_from_dict

    return command_from_dict(envelope.type, envelope.payload)


def test_a_redelivered_no_op_update_does_not_undo_a_later_change(services, db):
    from domain.commands import UpdateProduct

    services.commands.handle(create())
    no_op = CommandEnvelope.wrap(
        UpdateProduct(product_id=PRODUCT, changes={"name": "Mug"}), command_id="c-same"
    )
    assert services.commands.handle(no_op).version == 1
    rename = CommandEnvelope.wrap(
        UpdateProduct(product_id=PRODUCT, changes={"name": "Cup"}), command_id="c-cup"
    )
    services.commands.handle(rename)
    # the no-op is delivered again
    assert services.commands.handle(no_op).version == 1
    assert [c.command_id for c in EventStore(db).load(PRODUCT)] == ["c-create", "c-cup"]


def test_a_take_over_fails_when_the_holder_renewed_its_lease_meanwhile(services, db):
    skus = services.commands._skus
    old = Claim(sku="MUG-1", product_id=OTHER, command_id="c-slow", claimed_ms=1)
    skus.insert(old)
    seen = skus.holder("MUG-1")
    # the holder comes back to work and renews its lease
    assert skus.refresh(seen)
    # a take-over decided on the old lease must not win
    assert not skus.take_over(seen, Claim(sku="MUG-1", product_id=PRODUCT, command_id="c-new"))
    assert skus.holder("MUG-1").command_id == "c-slow"
    # and a renewal based on a claim that changed fails too
    assert not skus.refresh(seen)


def test_retries_spent_in_an_outage_do_not_count_as_poison(broker, worker, services, db):
    # Given a follow-up command that already retried three times in a store
    # outage, whose next delivery meets one non-transient error (a bug that a
    # deploy fixes, a corrupt read) and then goes through
    services.commands.handle(create())

    class FailsOnceForReal(EventStore):
        failed = False

        def load(self, stream_id, after_version=0):
            if not FailsOnceForReal.failed:
                FailsOnceForReal.failed = True
                raise ValueError("a decoding bug")
            return super().load(stream_id, after_version)

    services.commands._store = FailsOnceForReal(db)
    take = CommandEnvelope.wrap(
        AdjustStock(product_id=PRODUCT, delta=-1), command_id="c-f", causation_id="c-x"
    )
    message = command_message(take)
    broker.enqueue(message.copy(options={"retries": 3, "min_backoff": 10, "max_backoff": 20}))
    broker.join("commands", timeout=30_000)
    worker.join()
    # I expect it retried and applied, not dead-lettered and failed
    assert FailsOnceForReal.failed
    assert services.dead_letters.all() == []
    assert services.commands._statuses.get("c-f")["status"] == "succeeded"


def test_two_deliveries_that_decide_differently_end_in_one_decision_which_the_status_tells(services, db):
    # Given 5 in stock, and a take of 7 delivered twice at once: one copy
    # loaded the stream before 10 more arrived, the other after
    services.commands.handle(create())
    take = adjust(-7, "c-take")
    before_restock = EventStore(db).load(PRODUCT)
    services.commands.handle(adjust(10, "c-restock"))
    append_may_go = threading.Event()

    class WaitsBeforeAppending(EventStore):
        def append(self, commit):
            assert append_may_go.wait(10)
            super().append(commit)

    class LoadedBeforeTheRestock(EventStore):
        def load(self, stream_id, after_version=0):
            return before_restock

    fresh = CommandHandler(
        WaitsBeforeAppending(db), services.commands._skus, services.commands._publisher,
        services.commands._statuses,
    )  # fmt: skip
    stale = CommandHandler(
        LoadedBeforeTheRestock(db), services.commands._skus, services.commands._publisher,
        services.commands._statuses,
    )  # fmt: skip
    outcomes = {}
    copy = threading.Thread(target=lambda: outcomes.setdefault("fresh", fresh.handle(take)))
    copy.start()
    # When the stale copy refuses while the fresh one is about to commit
    outcomes["stale"] = stale.handle(take)
    append_may_go.set()
    copy.join(10)
    # I expect one decision, the first recorded (the refusal), which the
    # other copy adopts instead of committing; and the status to say so
    assert outcomes["stale"].status == outcomes["fresh"].status == "rejected"
    assert [c.command_id for c in EventStore(db).load(PRODUCT)] == ["c-create", "c-restock"]
    assert services.commands._statuses.get("c-take")["status"] == "rejected"


def test_a_delivery_that_lagged_behind_cannot_apply_a_change_already_decided_unchanged(
    services, db, settings
):
    from domain.commands import UpdateProduct

    # Given a price patch to what the price already is: one delivery finds
    # nothing to change, and the client then patches the price again
    services.commands.handle(create())
    same = CommandEnvelope.wrap(UpdateProduct(PRODUCT, {"price_cents": 1250}), command_id="c-same")
    assert services.commands.handle(same).status == "succeeded"
    services.commands.handle(
        CommandEnvelope.wrap(UpdateProduct(PRODUCT, {"price_cents": 700}), command_id="c-700")
    )

    # When a second delivery of the first patch, which checked the status
    # before the first wrote it (a worker paused in between), goes on now
    class SawNoStatus(CommandStatuses):
        def get(self, command_id):
            return None

    statuses = services.commands._statuses
    lagging = CommandHandler(
        EventStore(db), services.commands._skus, services.commands._publisher,
        SawNoStatus(statuses._redis, namespace=settings.redis_namespace, ttl_s=60),
    )  # fmt: skip
    lagging.handle(same)
    # I expect the later change to stand: the first patch was decided once
    assert [c.command_id for c in EventStore(db).load(PRODUCT)] == ["c-create", "c-700"]
    assert statuses.get("c-same")["status"] == "succeeded"
