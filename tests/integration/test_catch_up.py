"""The catch-up heals read models whose notifications were lost."""

import time

from domain.commands import AdjustStock, CreateProduct, PlaceOrder
from infra.eventstore import EventStore
from infra.messages import CommandEnvelope, Publisher, notification
from infra.mongo import ORDERS, PRODUCTS
from workers.catchup import CatchUp
from workers.handler import CommandHandler

MUG = "66666666-6666-4666-8666-666666666666"
ORDER = "77777777-7777-4777-8777-777777777777"


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


class LosesAnnouncements(Publisher):
    """Commits land, their notifications never reach the projectors."""

    def publish(self, commit):
        pass


def test_lost_notifications_are_healed_by_the_next_pass(services, db, broker, redis_client, settings):
    handler = CommandHandler(
        EventStore(db), services.commands._skus, LosesAnnouncements(broker), services.commands._statuses
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
        EventStore(db), services.commands._skus, LosesAnnouncements(broker), services.commands._statuses
    )
    for i, product_id in enumerate([MUG, ORDER]):
        handler.handle(
            CommandEnvelope.wrap(CreateProduct(product_id, f"S{i}", "Mug", 5, "EUR"), command_id=f"c{i}")
        )

    class FailsOnMug:
        def project(self, note):
            if note["stream_id"] == MUG:
                raise RuntimeError("a projection bug")
            return services.projector.project(note)

    clock = Clock()
    clock.now += 15
    catch_up = CatchUp(db, FailsOnMug(), redis_client, namespace=settings.redis_namespace, clock=clock)
    assert catch_up.run_once() == [ORDER]
