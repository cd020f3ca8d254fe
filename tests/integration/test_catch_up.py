"""The catch-up heals read models whose notifications were lost."""

import dataclasses
import time
from datetime import UTC, datetime

from domain.commands import AdjustStock, CreateProduct, PlaceOrder
from domain.events import ProductCreated
from infra.commits import Commit
from infra.eventstore import EventStore
from infra.handover import Handover
from infra.messages import CommandEnvelope, notification
from infra.mongo import ORDERS, PRODUCTS
from workers.catchup import CatchUp
from workers.handler import CommandHandler

MUG = "66666666-6666-4666-8666-666666666666"
ORDER = "77777777-7777-4777-8777-777777777777"


def at(seconds: float) -> datetime:
    t = datetime.fromtimestamp(seconds, UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


class LosesAnnouncements(Handover):
    """Commits land, their notifications never reach the projectors."""

    def outgoing(self, follow_ups, commit):
        return super().outgoing(follow_ups, None)


def test_lost_notifications_are_healed_by_the_next_pass(services, db, broker, redis_client, settings):
    handler = CommandHandler(
        EventStore(db),
        services.commands._skus,
        LosesAnnouncements(broker, services.commands._statuses),
        services.commands._statuses,
    )
    # Given a product projected at version 1, whose next change was never announced
    created = services.commands.handle(
        CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 5, "EUR", stock=1), command_id="c1")
    )
    services.projector.project(notification(created.commit))
    handler.handle(CommandEnvelope.wrap(AdjustStock(MUG, 4), command_id="c2"))
    # and an order never projected at all
    handler.handle(
        CommandEnvelope.wrap(
            PlaceOrder(ORDER, "cust", "EUR", [{"product_id": MUG, "quantity": 1}]), command_id="c3"
        )
    )
    assert db[PRODUCTS].find_one({"_id": MUG})["version"] == 1 and db[ORDERS].find_one({"_id": ORDER}) is None

    clock = Clock()
    catch_up = CatchUp(db, services.projector, redis_client, namespace=settings.redis_namespace, clock=clock)
    # A commit younger than the grace period is left to the usual path
    clock.now = time.time()
    assert catch_up.run_once() == []
    # When a pass runs after it
    clock.now = time.time() + 15
    healed = catch_up.run_once()
    # I expect both documents brought up to their streams
    assert sorted(healed) == sorted([MUG, ORDER])
    assert db[PRODUCTS].find_one({"_id": MUG})["stock_available"] == 5
    assert db[ORDERS].find_one({"_id": ORDER})["status"] == "pending"
    # and a later pass finds nothing more to do
    clock.now += 15
    assert catch_up.run_once() == []


def test_only_one_process_runs_a_pass_per_interval(services, db, redis_client, settings):
    first = CatchUp(db, services.projector, redis_client, namespace=settings.redis_namespace, interval_s=30)
    second = CatchUp(db, services.projector, redis_client, namespace=settings.redis_namespace, interval_s=30)
    assert first.try_run() == []
    assert second.try_run() is None


def test_a_stream_that_fails_to_project_does_not_stop_the_others(
    services, db, broker, redis_client, settings
):
    handler = CommandHandler(
        EventStore(db),
        services.commands._skus,
        LosesAnnouncements(broker, services.commands._statuses),
        services.commands._statuses,
    )
    for i, product_id in enumerate([MUG, ORDER]):
        handler.handle(
            CommandEnvelope.wrap(CreateProduct(product_id, f"S{i}", "Mug", 5, "EUR"), command_id=f"c{i}")
        )

    class FailsOnMug:
        def bring_up_to_date(self, stream_type, stream_id, version):
            if stream_id == MUG:
                raise RuntimeError("a projection bug")
            return services.projector.bring_up_to_date(stream_type, stream_id, version)

    clock = Clock()
    clock.now += 15
    catch_up = CatchUp(db, FailsOnMug(), redis_client, namespace=settings.redis_namespace, clock=clock)
    assert catch_up.run_once() == [ORDER]


def test_a_late_commit_and_a_stream_that_failed_three_times_are_both_healed(
    services, db, broker, redis_client, settings
):
    handler = CommandHandler(
        EventStore(db),
        services.commands._skus,
        LosesAnnouncements(broker, services.commands._statuses),
        services.commands._statuses,
    )
    clock = Clock()
    failures = {"left": 3}

    class FailsThreeTimesOnMug:
        def bring_up_to_date(self, stream_type, stream_id, version):
            if stream_id == MUG and failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("the store timed out")
            return services.projector.bring_up_to_date(stream_type, stream_id, version)

    catch_up = CatchUp(
        db, FailsThreeTimesOnMug(), redis_client, namespace=settings.redis_namespace, clock=clock
    )
    # Given a stream whose notifications were lost, and whose projection
    # fails on the next three passes, a minute apart
    handler.handle(CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 5, "EUR"), command_id="c1"))
    for _ in range(3):
        clock.now += 60
        assert catch_up.run_once() == []
    # and a commit that became visible only now, recorded (by a worker whose
    # clock was behind) an hour before the checkpoint
    late = Commit.new(
        stream_id=ORDER,
        stream_type="product",
        after_version=0,
        events=[ProductCreated("LATE", "Late", 5, "EUR", None, None, 0)],
        command_id="c-late",
        correlation_id="c-late",
    )
    EventStore(db).append(dataclasses.replace(late, recorded_at=at(clock.now - 3600)))
    # When the next pass runs, I expect both healed, whatever the clocks said
    clock.now += 60
    assert sorted(catch_up.run_once()) == sorted([MUG, ORDER])
    assert db[PRODUCTS].find_one({"_id": MUG})["version"] == 1
    assert db[PRODUCTS].find_one({"_id": ORDER})["version"] == 1


def test_the_sweep_reaches_every_stream_page_by_page(services, db, broker, redis_client, settings):
    handler = CommandHandler(
        EventStore(db),
        services.commands._skus,
        LosesAnnouncements(broker, services.commands._statuses),
        services.commands._statuses,
    )
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(7)]
    for i, product_id in enumerate(ids):
        handler.handle(
            CommandEnvelope.wrap(CreateProduct(product_id, f"S{i}", "M", 5, "EUR"), command_id=f"c{i}")
        )
        handler.handle(CommandEnvelope.wrap(AdjustStock(product_id, 1), command_id=f"a{i}"))
    # Given a checkpoint past every commit (the window sees none of them)
    clock = Clock()
    clock.now += 3 * 3600
    redis_client.set(f"{settings.redis_namespace}:catchup:checkpoint", str(int(clock.now * 1000)))
    catch_up = CatchUp(
        db, services.projector, redis_client, namespace=settings.redis_namespace, clock=clock, sweep_page=3
    )
    # When passes run with pages of three commits, I expect every stream
    # healed within a cycle, and the sweep to start over at the end
    healed = []
    for _ in range(6):
        healed += catch_up.run_once()
    assert sorted(healed) == ids
    assert all(db[PRODUCTS].find_one({"_id": i})["version"] == 2 for i in ids)


def test_a_building_generation_behind_is_healed_too(services, db, broker, redis_client, settings):
    from infra.generations import Generations

    created = services.commands.handle(
        CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 5, "EUR"), command_id="c1")
    )
    services.projector.project(notification(created.commit))
    # Given a rebuild under way whose new generation has not got the product
    # (its replay died, say), while the active one is up to date
    generations = Generations(db)
    now_ms = int(time.time() * 1000)
    generations.begin(PRODUCTS, "products_g2", owner="a-live-rebuild", now_ms=now_ms, lease_ms=3_600_000)
    services.projector._generations.ttl_s = 0
    building = generations.targets(PRODUCTS)[1]
    assert building.find_one({"_id": MUG}) is None
    # When a pass runs, I expect the building generation brought up too
    clock = Clock()
    clock.now += 15
    catch_up = CatchUp(db, services.projector, redis_client, namespace=settings.redis_namespace, clock=clock)
    assert catch_up.run_once() == [MUG]
    assert building.find_one({"_id": MUG})["version"] == 1


def lag_metrics(redis_client, settings) -> dict[str, float]:
    from web.metrics import ScrapeTime
    from web.readings import Readings

    families = ScrapeTime(Readings(redis_client, settings.redis_namespace, lambda: 0)).collect()
    return {
        f"{family.name}{{{sample.labels.get('read_model', '')}}}": sample.value
        for family in families
        if family.name.startswith("shop_projection_lag_") and "measured" not in family.name
        for sample in family.samples
    }


def test_projection_lag_is_measured_from_the_store_and_cannot_drift(
    services, db, broker, redis_client, settings
):
    handler = CommandHandler(
        EventStore(db),
        services.commands._skus,
        LosesAnnouncements(broker, services.commands._statuses),
        services.commands._statuses,
    )
    # Given a product projected by a projector that died before it recorded
    # its progress, and an order whose command later ended failed
    created = services.commands.handle(
        CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 5, "EUR"), command_id="c1")
    )
    name, view = services.projector._views["product"]
    services.projector.project_into(db[PRODUCTS], view, notification(created.commit))
    placing = CommandEnvelope.wrap(
        PlaceOrder(ORDER, "cust", "EUR", [{"product_id": MUG, "quantity": 1}]), command_id="c2"
    )
    placed = services.commands.handle(placing)
    services.projector.project(notification(placed.commit))
    services.commands._statuses.finish(placing, "failed", error={"code": "failed", "detail": "x"})
    clock = Clock()
    catch_up = CatchUp(db, services.projector, redis_client, namespace=settings.redis_namespace, clock=clock)
    # When a catch-up pass has measured, I expect no lag reported
    catch_up.run_once()
    assert set(lag_metrics(redis_client, settings).values()) == {0}
    # and a stream whose notification was lost moments ago shows as lag,
    handler.handle(CommandEnvelope.wrap(AdjustStock(MUG, 4), command_id="c3"))
    clock.now = time.time()
    catch_up.run_once()
    lag = lag_metrics(redis_client, settings)
    assert lag["shop_projection_lag_versions{products}"] == 1
    assert lag["shop_projection_lag_versions{orders}"] == 0
    # until it is healed
    clock.now += 15
    catch_up.run_once()
    assert set(lag_metrics(redis_client, settings).values()) == {0}


def test_a_pass_lets_go_of_a_generation_whose_rebuild_died(services, db, redis_client, settings):
    from infra.generations import Generations

    # Given a rebuild that died an hour ago, its lease long lapsed
    generations = Generations(db)
    an_hour_ago_ms = int((time.time() - 3600) * 1000)
    generations.begin(PRODUCTS, "products_dead", owner="dead", now_ms=an_hour_ago_ms, lease_ms=30_000)
    db["products_dead"].insert_one({"_id": "x", "version": 1})
    # When a catch-up pass runs, I expect projectors to write only the active generation again
    CatchUp(db, services.projector, redis_client, namespace=settings.redis_namespace).run_once()
    assert generations.pointer(PRODUCTS, fresh=True)["building"] is None
    assert "products_dead" not in db.list_collection_names()


def test_a_commit_stamped_by_a_clock_ahead_is_healed_at_once(services, db, broker, redis_client, settings):
    handler = CommandHandler(
        EventStore(db),
        services.commands._skus,
        LosesAnnouncements(broker, services.commands._statuses),
        services.commands._statuses,
    )
    # Given a commit whose notification was lost, stamped by a worker whose
    # clock is an hour ahead
    handler.handle(CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 5, "EUR"), command_id="c1"))
    db.commits.update_one({"command_id": "c1"}, {"$set": {"recorded_ms": int((time.time() + 3600) * 1000)}})
    # When a pass runs, I expect it healed, not left until that hour comes
    clock = Clock()
    catch_up = CatchUp(db, services.projector, redis_client, namespace=settings.redis_namespace, clock=clock)
    assert catch_up.run_once() == [MUG]
