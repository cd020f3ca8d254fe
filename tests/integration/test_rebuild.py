"""Rebuilds, drift checks and dead letters against the real store."""

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dramatiq import Worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.rebuild import seed
from domain.commands import AdjustStock, CreateProduct, PlaceOrder, UpdateProduct
from domain.projections import product_view
from infra.commits import Commit
from infra.deadletters import DeadLetters
from infra.eventstore import COMMITS, COMMITS_ONLY, EventStore
from infra.generations import Generations, LeaseLost
from infra.handover import Handover
from infra.messages import CommandEnvelope, notification
from infra.mongo import ORDERS, PRODUCTS, READ_MODEL_INDEXES, READ_MODEL_POINTERS
from tests.integration.plans import assert_indexed_for
from workers.actors import declare
from workers.drift import check
from workers.handler import CommandHandler
from workers.lease import clean_up_lapsed
from workers.projector import VIEWS, Projector
from workers.rebuild import Rebuilder

PRODUCTS_IDS = [f"aaaaaaaa-0000-4000-8000-00000000000{i}" for i in range(4)]
ORDER = "bbbbbbbb-0000-4000-8000-000000000001"


def no_sleep(seconds):
    pass


def fill(services):
    """Four products with a few changes each, and one order, all projected."""
    for i, product_id in enumerate(PRODUCTS_IDS):
        services.commands.handle(
            CommandEnvelope.wrap(
                CreateProduct(product_id, f"SKU-{i}", f"Item {i}", 100 * (i + 1), "EUR", stock=5),
                command_id=f"c{i}",
            )
        )
        services.commands.handle(CommandEnvelope.wrap(AdjustStock(product_id, i + 1), command_id=f"a{i}"))
        services.commands.handle(
            CommandEnvelope.wrap(UpdateProduct(product_id, {"name": f"Renamed {i}"}), command_id=f"u{i}")
        )
    services.commands.handle(
        CommandEnvelope.wrap(
            PlaceOrder(ORDER, "cust", "EUR", [{"product_id": PRODUCTS_IDS[0], "quantity": 1}]),
            command_id="o1",
        )
    )
    project_everything(services, services.projector._store._commits.database)


def project_everything(services, db):
    for commit in db[COMMITS].find(COMMITS_ONLY, sort=[("recorded_at", 1)]):
        services.projector.project(
            notification(EventStore(db).find_by_command(commit["stream_id"], commit["command_id"]))
        )


def rebuilder(services, db, generations=None):
    generations = generations or services.projector._generations
    return Rebuilder(db, services.projector, generations, services.dead_letters, batch_size=3, sleep=no_sleep)


def live_docs(db, name):
    return {doc["_id"]: doc for doc in Generations(db).active(name).find()}


def test_a_rebuild_replaces_a_damaged_read_model_and_switches_queries(services, db):
    fill(services)
    before = live_docs(db, PRODUCTS)
    db[PRODUCTS].update_one({"_id": PRODUCTS_IDS[1]}, {"$set": {"price_cents": 1, "name": "tampered"}})
    db[PRODUCTS].delete_one({"_id": PRODUCTS_IDS[2]})
    report = rebuilder(services, db).rebuild(PRODUCTS)
    assert (report.streams, report.events) == (4, 12)
    pointer = db[READ_MODEL_POINTERS].find_one({"_id": PRODUCTS})
    assert pointer["active"].startswith("products__") and pointer["building"] is None
    assert PRODUCTS not in db.list_collection_names()  # the old generation is gone
    assert live_docs(db, PRODUCTS) == before
    # queries read the new generation
    from web.views import ProductViews

    assert ProductViews(db).get(PRODUCTS_IDS[2])["name"] == "Renamed 2"
    # and projectors write to it
    services.commands.handle(CommandEnvelope.wrap(AdjustStock(PRODUCTS_IDS[2], 10), command_id="late"))
    project_everything(services, db)
    assert live_docs(db, PRODUCTS)[PRODUCTS_IDS[2]]["stock_available"] == 18


def test_check_reports_drift_and_cleans_up(services, db):
    fill(services)
    generations = services.projector._generations
    assert check(db, PRODUCTS, services.projector, generations, services.dead_letters) == []
    db[PRODUCTS].update_one({"_id": PRODUCTS_IDS[3]}, {"$set": {"stock_available": 99}})
    [difference] = check(db, PRODUCTS, services.projector, generations, services.dead_letters)
    assert (difference.stream_id, difference.field, difference.live, difference.replayed) == (
        PRODUCTS_IDS[3], "stock_available", 99, 9,
    )  # fmt: skip
    assert not [c for c in db.list_collection_names() if "__check_" in c]


def test_a_rebuild_waits_for_the_pointer_only_as_long_as_its_replay_did_not(services, db):
    fill(services)
    generations = Generations(db, ttl_s=5.0)
    slept: list[float] = []
    rebuild = Rebuilder(db, services.projector, generations, services.dead_letters, sleep=slept.append)
    # A replay shorter than two TTLs waits out what is left of them before
    # the last pass; the old generation is dropped two whole TTLs after the
    # switch, which queries do not wait for
    report = rebuild.rebuild(PRODUCTS)
    assert len(slept) == 2 and 0 < slept[0] < 10 and slept[1] == 10
    assert report.switched_s > 0
    # One longer than two TTLs does not wait at all
    generations.ttl_s = 0.05
    replay = rebuild.replay.into

    def slow(*args, **kwargs):
        report = replay(*args, **kwargs)
        time.sleep(0.2)
        return report

    rebuild.replay.into = slow
    slept.clear()
    rebuild.rebuild(PRODUCTS)
    assert slept == [0.0, 0.1]
    assert live_docs(db, PRODUCTS).keys() == set(PRODUCTS_IDS)


def test_commits_made_during_a_rebuild_reach_the_new_generation(services, db):
    fill(services)
    rebuild = rebuilder(services, db)
    target = rebuild.begin(PRODUCTS)
    # a change lands and is projected while the new generation is empty
    services.commands.handle(CommandEnvelope.wrap(AdjustStock(PRODUCTS_IDS[0], 3), command_id="during-1"))
    project_everything(services, db)
    since = db[COMMITS].find_one({"command_id": "c0"})["recorded_ms"]
    rebuild.replay.into(PRODUCTS, target)
    # another lands after the replay read its stream, unannounced
    services.commands.handle(CommandEnvelope.wrap(AdjustStock(PRODUCTS_IDS[1], 4), command_id="during-2"))
    rebuild.settle(PRODUCTS, target, since)
    rebuild.finish(PRODUCTS, target)
    docs = live_docs(db, PRODUCTS)
    assert docs[PRODUCTS_IDS[0]]["stock_available"] == 5 + 1 + 3
    assert docs[PRODUCTS_IDS[1]]["stock_available"] == 5 + 2 + 4
    assert (
        check(db, PRODUCTS, services.projector, services.projector._generations, services.dead_letters) == []
    )


def faulty_views(bad_stream):
    def view(doc, event, version, recorded_at):
        if (
            doc is not None
            and doc.get("id") == bad_stream
            or (doc and doc.get("sku") == "SKU-1" and version >= 2)
        ):
            raise ValueError("a projection bug")
        return product_view(doc, event, version, recorded_at)

    return {**VIEWS, "product": (PRODUCTS, view)}


def test_a_poison_event_is_dead_lettered_and_retried_after_the_fix(
    settings, services, db, broker, monkeypatch, capsys
):
    # Given a projection that fails on one product's second event
    faulty = Projector(
        services.projector._store,
        db,
        generations=services.projector._generations,
        views=faulty_views(PRODUCTS_IDS[1]),
    )
    broken = dataclasses.replace(services, projector=faulty)
    declare(broker, lambda: broken)
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        for i, product_id in enumerate(PRODUCTS_IDS[:3]):
            envelope = CommandEnvelope.wrap(
                CreateProduct(product_id, f"SKU-{i}", "Mug", 5, "EUR"), command_id=f"c{i}"
            )
            services.commands.handle(envelope)
            services.commands.handle(CommandEnvelope.wrap(AdjustStock(product_id, 2), command_id=f"a{i}"))
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not DeadLetters(db).all():
            time.sleep(0.1)
        broker.join("projections", timeout=60_000)
        worker.join()
    finally:
        worker.stop()
    # I expect the bad stream held up and listed, the others current
    [letter] = DeadLetters(db).all()
    assert (letter["stream_id"], letter["version"], letter["handler"]) == (
        PRODUCTS_IDS[1],
        2,
        "project_stream",
    )
    assert "a projection bug" in letter["error"] and "Traceback" in letter["traceback"]
    docs = live_docs(db, PRODUCTS)
    assert docs[PRODUCTS_IDS[1]]["stuck"] == letter["_id"] and docs[PRODUCTS_IDS[1]]["version"] == 1
    assert docs[PRODUCTS_IDS[0]]["version"] == 2 and docs[PRODUCTS_IDS[2]]["version"] == 2
    from web.views import ProductViews

    assert ProductViews(db).get(PRODUCTS_IDS[1])["stuck"] is True

    # When the fault is gone and the dead letters are retried
    from workers import deadletters

    for key, value in {
        "MONGODB_URI": settings.mongodb_uri,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
    }.items():
        monkeypatch.setenv(key, value)
    assert deadletters.main(["list"]) == 0
    assert letter["_id"] in capsys.readouterr().out
    assert deadletters.main(["retry", "--all"]) == 0
    # I expect the stream caught up and no longer stuck
    assert DeadLetters(db).all() == []
    doc = live_docs(db, PRODUCTS)[PRODUCTS_IDS[1]]
    assert doc["version"] == 2 and "stuck" not in doc


def test_a_rebuild_meets_the_bad_event_the_same_way(services, db):
    fill(services)
    faulty = Projector(
        services.projector._store, db, generations=services.projector._generations, views=faulty_views("none")
    )
    rebuild = Rebuilder(db, faulty, services.projector._generations, services.dead_letters, sleep=no_sleep)
    report = rebuild.rebuild(PRODUCTS)
    assert report.stuck == [PRODUCTS_IDS[1]]
    doc = live_docs(db, PRODUCTS)[PRODUCTS_IDS[1]]
    assert doc["stuck"] and doc["version"] == 1
    # the check leaves the stuck stream out
    assert (
        check(db, PRODUCTS, services.projector, services.projector._generations, services.dead_letters) == []
    )


def test_a_rebuild_dead_letters_an_event_it_cannot_read_and_goes_on(services, db):
    # Given a product whose fourth event is of a type this code does not know
    fill(services)
    bad = PRODUCTS_IDS[2]
    unknown = {"type": "ProductRetired", "version": 4, "data": {"reason": "discontinued"}}
    EventStore(db).import_commits([
        Commit(stream_id=bad, stream_type="product", version_from=4, version_to=4, events=[unknown],
               command_id="c-unknown", correlation_id="c-unknown", causation_id=None)
    ])  # fmt: skip
    # When the products are rebuilt
    report = rebuilder(services, db).rebuild(PRODUCTS)
    # I expect the rebuild to finish, that stream stuck at what it could read,
    # and a dead letter naming the event
    assert report.stuck == [bad]
    doc = live_docs(db, PRODUCTS)[bad]
    assert doc["stuck"] and doc["version"] == 3 and doc["name"] == "Renamed 2"
    [letter] = [letter for letter in services.dead_letters.all() if letter["stream_id"] == bad]
    assert letter["version"] == 4 and "ProductRetired" in letter["error"]
    assert len(live_docs(db, PRODUCTS)) == 4


# --- property: any delivery order, duplicates and a rebuild in the middle ----------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_read_models_end_equal_to_a_fresh_replay(services, db, broker, data):
    for name in (PRODUCTS, ORDERS, READ_MODEL_POINTERS, COMMITS, "dead_letters"):
        db[name].delete_many({})
    for name in db.list_collection_names():
        if "__" in name:
            db[name].drop()
    # commits land; their notifications are held back
    silent = CommandHandler(
        EventStore(db),
        services.commands._skus,
        Silent(broker, services.commands._statuses),
        services.commands._statuses,
    )
    rng = random.Random(data.draw(st.integers(0, 10_000), label="seed"))
    notes = []
    db["sku_claims"].delete_many({})
    for i, product_id in enumerate(PRODUCTS_IDS[:3]):
        notes.append(
            silent.handle(
                CommandEnvelope.wrap(
                    CreateProduct(product_id, f"P{i}", "Mug", 5, "EUR", stock=3),
                    command_id=str(uuid.uuid4()),
                )
            ).commit
        )
        for _ in range(rng.randint(1, 3)):
            notes.append(
                silent.handle(
                    CommandEnvelope.wrap(
                        AdjustStock(product_id, rng.randint(1, 4)), command_id=str(uuid.uuid4())
                    )
                ).commit
            )
    notes = [notification(c) for c in notes]
    generations = Generations(db, ttl_s=0)
    projector = Projector(services.projector._store, db, generations=generations)
    rebuild = Rebuilder(db, projector, generations, services.dead_letters, batch_size=2, sleep=no_sleep)
    pending = list(notes)
    steps = ["begin", "replay", "finish"]
    target = None
    since = None
    extra = data.draw(st.integers(0, 3), label="commits during the rebuild")
    while pending or steps or extra:
        choices = (
            (["deliver"] if pending else []) + (["step"] if steps else []) + (["commit"] if extra else [])
        )
        action = data.draw(st.sampled_from(choices), label="action")
        if action == "commit":
            extra -= 1
            product_id = data.draw(st.sampled_from(PRODUCTS_IDS[:3]), label="product")
            commit = silent.handle(
                CommandEnvelope.wrap(AdjustStock(product_id, 1), command_id=str(uuid.uuid4()))
            ).commit
            pending.append(notification(commit))
            continue
        if action == "step":
            step = steps.pop(0)
            if step == "begin":
                target = rebuild.begin(PRODUCTS)
                since = 0
            elif step == "replay":
                rebuild.replay.into(PRODUCTS, target)
            else:
                rebuild.settle(PRODUCTS, target, since)
                rebuild.finish(PRODUCTS, target)
            continue
        index = data.draw(st.integers(0, len(pending) - 1), label="which")
        note = pending[index] if data.draw(st.booleans(), label="again later") else pending.pop(index)
        projector.project(note)
    fresh = db["fresh_replay"]
    rebuild.replay.into(PRODUCTS, fresh)
    expected = {doc["_id"]: doc for doc in fresh.find()}
    fresh.drop()
    assert live_docs(db, PRODUCTS) == expected


class Silent(Handover):
    def outgoing(self, follow_ups, commit):
        return []


def test_a_rebuild_that_died_is_given_up_and_the_next_one_runs(services, db):
    fill(services)
    rebuild = rebuilder(services, db)
    dead = rebuild.begin(PRODUCTS)  # ... and the process was killed here
    with pytest.raises(RuntimeError, match="--abandon"):
        rebuild.begin(PRODUCTS)
    assert rebuild.abandon(PRODUCTS) == dead.name
    assert dead.name not in db.list_collection_names()
    assert rebuild.rebuild(PRODUCTS).streams == 4


def test_a_command_that_cannot_be_applied_holds_up_no_projection(services, db):
    fill(services)
    letters = DeadLetters(db)
    letters.record(
        handler="handle_command",
        stream_id=PRODUCTS_IDS[0],
        stream_type="product",
        version=None,
        message={},
        error=ValueError("bug"),
        ref="c-bad",
    )
    assert "stuck" not in live_docs(db, PRODUCTS)[PRODUCTS_IDS[0]]
    assert [letter["_id"] for letter in letters.all()] == [f"handle_command:{PRODUCTS_IDS[0]}:c-bad"]


# --- the rebuild's lease: a rebuild that dies or is abandoned ------------------------------

ROOT = Path(__file__).resolve().parents[2]
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)  # seeded commits leave the last pass nothing to do


class Clock:
    def __init__(self, now: float = 1_900_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def pointer(db, name=PRODUCTS):
    return db[READ_MODEL_POINTERS].find_one({"_id": name}) or {}


def leave_a_dead_rebuild(db, clock, generation=f"{PRODUCTS}__dead", lease_s=30):
    """The pointer as a rebuild killed after its claim leaves it."""
    Generations(db).begin(
        PRODUCTS, generation, owner="killed", now_ms=int(clock() * 1000), lease_ms=lease_s * 1000
    )
    return generation


def adjust_and_project(services, db, product_id, command_id, projector=None):
    services.commands.handle(CommandEnvelope.wrap(AdjustStock(product_id, 1), command_id=command_id))
    commit = EventStore(db).find_by_command(product_id, command_id)
    (projector or services.projector).project(notification(commit))


def test_a_rebuild_refuses_a_live_lease_and_takes_over_a_lapsed_one(services, db):
    # Given a rebuild that died after claiming products, its lease still running
    fill(services)
    clock = Clock()
    dead = leave_a_dead_rebuild(db, clock, lease_s=30)
    generations = Generations(db, ttl_s=0)
    projector = Projector(services.projector._store, db, generations=generations)
    adjust_and_project(services, db, PRODUCTS_IDS[0], "while-dead", projector)
    assert dead in db.list_collection_names()  # projectors double-write to it
    rebuild = Rebuilder(
        db, projector, generations, services.dead_letters, batch_size=3, sleep=no_sleep, clock=clock
    )
    # When a rebuild starts before the lease lapsed, I expect it refused
    with pytest.raises(RuntimeError, match="lease"):
        rebuild.rebuild(PRODUCTS)
    # and once it lapsed, the rebuild takes over, drops the dead generation and switches
    clock.now += 31
    assert rebuild.rebuild(PRODUCTS).streams == 4
    after = pointer(db)
    assert after["active"].startswith(f"{PRODUCTS}__") and after["building"] is None
    assert dead not in db.list_collection_names()
    adjust_and_project(services, db, PRODUCTS_IDS[0], "after", projector)
    assert dead not in db.list_collection_names()
    assert live_docs(db, PRODUCTS)[PRODUCTS_IDS[0]]["stock_available"] == 5 + 1 + 1 + 1


def test_clean_up_lapsed_clears_a_dead_rebuild_so_projectors_stop_double_writing(services, db):
    fill(services)
    clock = Clock()
    dead = leave_a_dead_rebuild(db, clock, lease_s=30)
    generations = Generations(db, ttl_s=0)
    # While the lease runs, the clean-up leaves it alone
    assert clean_up_lapsed(db, generations, clock=clock, sleep=no_sleep) == []
    assert pointer(db)["building"] == dead
    # Once it lapsed, the clean-up clears the pointer and drops the generation
    clock.now += 30.001
    assert clean_up_lapsed(db, generations, clock=clock, sleep=no_sleep) == [dead]
    assert pointer(db)["building"] is None
    assert dead not in db.list_collection_names()
    projector = Projector(services.projector._store, db, generations=generations)
    adjust_and_project(services, db, PRODUCTS_IDS[1], "later", projector)
    assert dead not in db.list_collection_names()
    assert live_docs(db, PRODUCTS)[PRODUCTS_IDS[1]]["stock_available"] == 5 + 2 + 1
    # and a second pass finds nothing to do
    assert clean_up_lapsed(db, generations, clock=clock, sleep=no_sleep) == []


def test_a_live_rebuild_that_is_abandoned_stops_without_recreating_its_generation(services, db):
    fill(services)
    generations = Generations(db, ttl_s=0)
    live = Rebuilder(db, services.projector, generations, services.dead_letters, batch_size=1, sleep=no_sleep)
    operator = Rebuilder(db, services.projector, generations, services.dead_letters, sleep=no_sleep)
    abandoned = []

    def abandon_midway(streams, events):
        if not abandoned:
            abandoned.append(operator.abandon(PRODUCTS))

    # When an operator abandons the rebuild while it replays
    with pytest.raises(LeaseLost):
        live.rebuild(PRODUCTS, abandon_midway)
    # I expect it stopped: nothing switched, its generation gone for good
    [generation] = abandoned
    assert pointer(db)["active"] == PRODUCTS and pointer(db)["building"] is None
    assert generation not in db.list_collection_names()
    # and the next rebuild runs
    assert live.rebuild(PRODUCTS).streams == 4


def test_a_rebuild_that_lost_its_lease_leaves_the_one_that_took_over_alone(services, db):
    fill(services)
    clock = Clock()
    generations = Generations(db, ttl_s=0)
    slow = Rebuilder(
        db, services.projector, generations, services.dead_letters, batch_size=1, sleep=no_sleep, clock=clock
    )
    other = Rebuilder(db, services.projector, generations, services.dead_letters, sleep=no_sleep, clock=clock)
    taken = []

    def stall_then_lose_the_lease(streams, events):
        if not taken:
            clock.now += 3600  # a pause far past the lease
            other.begin(PRODUCTS)
            taken.append(pointer(db)["building"])

    with pytest.raises(LeaseLost):
        slow.rebuild(PRODUCTS, stall_then_lose_the_lease)
    # I expect the rebuild that took over untouched, and able to finish
    [successor] = taken
    assert pointer(db)["building"] == successor
    assert successor in db.list_collection_names()
    assert [c for c in db.list_collection_names() if c.startswith(f"{PRODUCTS}__")] == [successor]
    target = db[successor]
    other.replay.into(PRODUCTS, target)
    other.finish(PRODUCTS, target)
    assert pointer(db)["active"] == successor


def rebuild_cli(settings, *args, lease_s: float = 30.0) -> subprocess.Popen:
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "REBUILD_LEASE": str(lease_s),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "workers.rebuild", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def ended(process: subprocess.Popen) -> None:
    """Kill the process we started, by its PID, if it still runs."""
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


def wait_for_replay(db, process, timeout=60.0) -> str:
    """The generation ``process`` is filling, once it holds documents."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        building = pointer(db).get("building")
        if building and db[building].find_one({}, {"_id": 1}) is not None:
            return building
        time.sleep(0.01)
    raise AssertionError("the rebuild did not start replaying in time")


def assert_indexed(collection, name, backends) -> None:
    """The read model's queries are served by indexes on ``collection``."""
    assert_indexed_for(collection, READ_MODEL_INDEXES[name], real_mongo=backends.mongo_started is None)


@pytest.mark.parametrize("then", ["clean_up", "rebuild"])
def test_a_rebuild_killed_mid_replay_gives_way_once_its_lease_lapses(settings, services, db, backends, then):
    # Given a rebuild process killed with SIGKILL while it replays
    fill(services)
    seed(db, 8000, 1, recorded_at=LONG_AGO)
    lease_s = 1.0
    process = rebuild_cli(settings, PRODUCTS, "--quiet", lease_s=lease_s)
    try:
        dead = wait_for_replay(db, process)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        ended(process)
    killed = time.monotonic()
    # I expect its generation left in the pointer, projectors writing to it
    assert pointer(db)["building"] == dead
    adjust_and_project(services, db, PRODUCTS_IDS[0], "while-dead")
    assert db[dead].find_one({"_id": PRODUCTS_IDS[0]})["stock_available"] == 5 + 1 + 1
    # When its lease has lapsed (it renewed last before it was killed) and
    # the clean-up or the next rebuild runs
    time.sleep(max(0.0, killed + lease_s + 0.1 - time.monotonic()))
    if then == "clean_up":
        assert clean_up_lapsed(db) == [dead]
        assert pointer(db)["active"] == PRODUCTS
    else:
        again = rebuild_cli(settings, PRODUCTS, "--quiet", lease_s=1)
        try:
            out, err = again.communicate(timeout=90)
        finally:
            ended(again)
        assert again.returncode == 0, out + err
        assert pointer(db)["active"].startswith(f"{PRODUCTS}__")
        assert_indexed(db[pointer(db)["active"]], PRODUCTS, backends)
    # I expect the dead generation gone, and projectors writing only to the active one
    assert pointer(db)["building"] is None
    assert dead not in db.list_collection_names()
    time.sleep(services.projector._generations.ttl_s)
    adjust_and_project(services, db, PRODUCTS_IDS[0], "after")
    assert dead not in db.list_collection_names()
    assert live_docs(db, PRODUCTS)[PRODUCTS_IDS[0]]["stock_available"] == 5 + 1 + 1 + 1


def test_abandoning_a_live_rebuild_process_stops_it_before_it_recreates_its_generation(
    settings, services, db, backends
):
    # Given a rebuild process replaying
    seed(db, 15000, 1, recorded_at=LONG_AGO)
    process = rebuild_cli(settings, PRODUCTS, "--quiet")
    try:
        building = wait_for_replay(db, process)
        # When an operator abandons it
        abandoned = rebuild_cli(settings, PRODUCTS, "--abandon")
        try:
            out, err = abandoned.communicate(timeout=60)
        finally:
            ended(abandoned)
        assert abandoned.returncode == 0 and building in out, out + err
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            recreated = building in db.list_collection_names()
            pytest.fail(f"still rebuilding 30 s after it was abandoned; {building} recreated: {recreated}")
    finally:
        ended(process)
    # I expect it to stop without switching, and its generation to stay gone
    assert process.returncode == 1 and "abandoned" in err, out + err
    assert pointer(db)["active"] == PRODUCTS and pointer(db)["building"] is None
    assert building not in db.list_collection_names()
    # and the next rebuild to run, its generation indexed
    generations = services.projector._generations
    rebuild = Rebuilder(db, services.projector, generations, services.dead_letters, sleep=no_sleep)
    assert rebuild.rebuild(PRODUCTS).streams == 15000
    assert_indexed(db[pointer(db)["active"]], PRODUCTS, backends)
