"""Orders and reservations on the real Redis and store, through a real
Dramatiq worker where the process manager's messages matter."""

import time
from datetime import UTC, datetime

import pytest
from dramatiq import Worker

from domain.commands import AdjustStock, CancelOrder, CreateProduct, PlaceOrder, ReleaseStock, ReserveStock
from domain.product import Product
from infra.eventstore import COMMITS, COMMITS_ONLY, EventStore
from infra.messages import CommandEnvelope
from infra.mongo import DEAD_LETTERS, ORDERS, PRODUCTS
from tests.integration.plans import assert_served_by_index
from web.views import OrderViews

MUG = "11111111-1111-4111-8111-111111111111"
PLATE = "22222222-2222-4222-8222-222222222222"
ORDER = "33333333-3333-4333-8333-333333333333"


def envelope(command, command_id):
    return CommandEnvelope.wrap(command, command_id=command_id)


@pytest.fixture
def catalog(services):
    services.commands.handle(envelope(CreateProduct(MUG, "MUG", "Mug", 1250, "EUR", stock=5), "c-mug"))
    services.commands.handle(envelope(CreateProduct(PLATE, "PLATE", "Plate", 800, "EUR", stock=1), "c-plate"))


def place(services, lines, order_id=ORDER, command_id="c-place"):
    order = PlaceOrder(order_id, "cust-1", "EUR", [{"product_id": p, "quantity": q} for p, q in lines])
    return services.commands.handle(envelope(order, command_id))


def drain(broker, worker):
    for _ in range(10):
        broker.join("commands", timeout=30_000)
        broker.join("projections", timeout=30_000)
        worker.join()
        if not any(broker.client.llen(f"{broker.namespace}:{q}") for q in ("commands", "projections")):
            return


def test_an_order_is_confirmed_and_projected_with_captured_prices(services, catalog, broker, worker, db):
    place(services, [(MUG, 2), (PLATE, 1)])
    drain(broker, worker)
    order = db[ORDERS].find_one({"_id": ORDER})
    assert order["status"] == "confirmed"
    assert order["total_cents"] == 2 * 1250 + 800
    lines = {line["product_id"]: line for line in order["lines"]}
    mug_line = lines[MUG]
    assert (
        mug_line["sku"],
        mug_line["name"],
        mug_line["unit_price_cents"],
        mug_line["line_total_cents"],
    ) == (
        "MUG",
        "Mug",
        1250,
        2500,
    )
    assert {line["status"] for line in order["lines"]} == {"reserved"}
    mug = db[PRODUCTS].find_one({"_id": MUG})
    assert (mug["stock_available"], mug["stock_reserved"]) == (3, 2)
    # one read-model document per source stream
    assert db[ORDERS].count_documents({}) == 1 and db[PRODUCTS].count_documents({}) == 2


def test_a_refused_line_rejects_the_order_and_returns_the_rest(services, catalog, broker, worker, db):
    place(services, [(MUG, 2), (PLATE, 2)])
    drain(broker, worker)
    order = db[ORDERS].find_one({"_id": ORDER})
    assert order["status"] == "rejected"
    lines = {line["product_id"]: line for line in order["lines"]}
    assert (lines[PLATE]["status"], lines[PLATE]["reason"]) == ("refused", "insufficient_stock")
    assert lines[MUG]["status"] in ("released", "refused")
    for product_id, stock in ((MUG, 5), (PLATE, 1)):
        doc = db[PRODUCTS].find_one({"_id": product_id})
        assert (doc["stock_available"], doc["stock_reserved"]) == (stock, 0)


def test_a_reservation_delivered_twice_reserves_once(services, catalog, db):
    reserve = envelope(ReserveStock(MUG, ORDER, 2, "EUR"), "c-reserve")
    services.commands.handle(reserve)
    statuses = services.commands._statuses
    statuses._redis.delete(statuses.key("c-reserve"))  # as if the outcome was lost
    services.commands.handle(reserve)
    # and a second command for the same order's line
    services.commands.handle(envelope(ReserveStock(MUG, ORDER, 2, "EUR"), "c-reserve-again"))
    reserved = [c for c in EventStore(db).load(MUG) if c.events[0]["type"] == "StockReserved"]
    assert len(reserved) == 1


def test_releasing_an_unknown_reservation_is_a_no_op(services, catalog, db):
    outcome = services.commands.handle(envelope(ReleaseStock(MUG, ORDER), "c-release"))
    assert (outcome.status, outcome.commit, outcome.version) == ("succeeded", None, 1)
    assert db[COMMITS].count_documents({"stream_id": MUG, **COMMITS_ONLY}) == 1


def test_an_order_cancelled_while_its_reservations_are_in_flight_holds_nothing(
    services, catalog, broker, actors, settings, db
):
    # Given an order placed, its reservation requests queued but not yet run
    place(services, [(MUG, 2), (PLATE, 1)])
    assert broker.client.llen(f"{settings.redis_namespace}:commands") == 2
    # When the customer cancels before any product answers
    assert services.commands.handle(envelope(CancelOrder(ORDER), "c-cancel")).status == "succeeded"
    # and the products answer afterwards
    worker = Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        drain(broker, worker)
    finally:
        worker.stop()
    # I expect the order cancelled and nothing left reserved
    order = db[ORDERS].find_one({"_id": ORDER})
    assert order["status"] == "cancelled"
    assert {line["status"] for line in order["lines"]} == {"released"}
    for product_id, stock in ((MUG, 5), (PLATE, 1)):
        doc = db[PRODUCTS].find_one({"_id": product_id})
        assert (doc["stock_available"], doc["stock_reserved"]) == (stock, 0)


def test_stock_adjustments_and_reservations_interleave_safely(services, catalog, broker, worker, db):
    for i in range(6):
        place(services, [(MUG, 1)], order_id=f"44444444-4444-4444-8444-44444444444{i}", command_id=f"c-o{i}")
        services.commands.handle(envelope(AdjustStock(MUG, -1 if i % 2 else 1), f"c-adj{i}"))
    drain(broker, worker)
    history = EventStore(db).load(MUG)
    product = Product.replay(e for c in history for e in c.domain_events())
    doc = db[PRODUCTS].find_one({"_id": MUG})
    assert product.stock_available >= 0
    assert (doc["stock_available"], doc["stock_reserved"]) == (
        product.stock_available,
        product.stock_reserved,
    )
    confirmed = db[ORDERS].count_documents({"status": "confirmed"})
    assert product.stock_reserved == confirmed


def test_an_order_too_dear_to_total_is_rejected_and_gives_its_stock_back(services, broker, worker, db):
    # Given two products created, before prices were capped, at about 4.6e15
    # cents, with 1,000 in stock each
    from domain.events import ProductCreated
    from infra.commits import Commit

    price = 4_611_686_018_427_388  # 2 x 1,000 x price > 2**63
    for product_id, sku in ((MUG, "MUG"), (PLATE, "PLATE")):
        created = ProductCreated(sku, sku.title(), price, "EUR", None, None, 1000)
        EventStore(db).append(
            Commit.new(
                stream_id=product_id, stream_type="product", after_version=0, events=[created],
                command_id=f"c-{sku}", correlation_id=f"c-{sku}",
            )
        )  # fmt: skip
    # When an order takes all 1,000 of each (a total past 2**63)
    place(services, [(MUG, 1000), (PLATE, 1000)])
    drain(broker, worker)
    # I expect every follow-up applied (none dead-lettered), the order
    # rejected with the reason, and no unit left reserved
    assert list(db[DEAD_LETTERS].find({}, {"error": 1})) == []
    order = db[ORDERS].find_one({"_id": ORDER})
    assert order["status"] == "rejected"
    assert "total_limit" in {line["reason"] for line in order["lines"]}
    for product_id in (MUG, PLATE):
        product = Product.replay(e for c in EventStore(db).load(product_id) for e in c.domain_events())
        assert (product.stock_available, product.stock_reserved) == (1000, 0)


def order_document(order_id: str, customer_id: str, status: str, placed_ms: int) -> dict:
    placed_at = datetime.fromtimestamp(placed_ms / 1000, UTC)
    return {
        "_id": order_id, "id": order_id, "customer_id": customer_id, "status": status, "currency": "EUR",
        "lines": [], "total_cents": 0, "version": 1,
        "placed_at": placed_at, "placed_ms": placed_ms, "updated_at": placed_at,
    }  # fmt: skip


def pages(views: OrderViews, customer_id: str, status: str | None, limit: int) -> list[list[str]]:
    """Every page of the customer's list, following each page's last key."""
    found, after = [], None
    while True:
        page = views.for_customer(customer_id, status, limit, after)
        found.append([order["id"] for order in page.items])
        if page.last is None:
            return found
        after = page.last


@pytest.mark.parametrize("status", [None, "confirmed"])
def test_a_customer_lists_orders_newest_first_by_pages_from_its_index(db, backends, status):
    # Given a customer's orders, some placed in the same millisecond, among another customer's
    orders = db[ORDERS]
    mine = [
        order_document(f"o-{i:02}", "c-1", "confirmed" if i % 3 else "rejected", 1_000 + i // 2)
        for i in range(12)
    ]
    orders.insert_many(mine + [order_document(f"x-{i}", "c-2", "confirmed", 1_000 + i) for i in range(5)])
    # When they are listed two at a time, with or without a status
    listed = pages(OrderViews(db), "c-1", status, limit=2)
    # I expect each of them once, newest first (ties: id, descending), and no one else's
    expected = sorted(
        (d for d in mine if status is None or d["status"] == status),
        key=lambda d: (d["placed_ms"], d["id"]),
        reverse=True,
    )
    assert [i for page in listed for i in page] == [d["id"] for d in expected]
    assert all(len(page) == 2 for page in listed[:-1])
    # and the list to walk an index, never sorting in memory
    assert_served_by_index(
        orders,
        {"customer_id": "c-1", **({"status": status} if status else {})},
        [("placed_ms", -1), ("id", -1)],
        ["customer_id", *(["status"] if status else []), "placed_ms", "id"],
        real_mongo=backends.mongo_started is None,
    )


def test_an_id_of_another_kind_of_stream_is_not_found(services, catalog, broker, worker, db):
    # Given an order whose line names another order, not a product
    place(services, [(MUG, 1)])
    other = "55555555-5555-4555-8555-555555555555"
    place(services, [(ORDER, 1)], order_id=other, command_id="c-odd")
    cancel_a_product = envelope(CancelOrder(MUG), "c-cancel-mug")
    assert services.commands.handle(cancel_a_product).error.code == "order_not_found"
    drain(broker, worker)
    # I expect a refusal, not a failure, and the order to end
    order = db[ORDERS].find_one({"_id": other})
    assert order["status"] == "rejected"
    assert order["lines"][0]["reason"] == "product_not_found"


def test_follow_up_commands_are_never_given_up():
    from infra.messages import command_message

    user = envelope(CancelOrder(ORDER), "c-user")
    follow_up = CommandEnvelope.wrap(ReleaseStock(MUG, ORDER), command_id="c-f", causation_id="c-user")
    assert command_message(user).options == {}
    assert command_message(follow_up).options["max_retries"] >= 10_000


def test_giving_up_on_a_commit_whose_follow_ups_were_not_sent_leaves_it_to_the_outbox(
    services, catalog, broker, db
):
    from infra.handover import Handover
    from workers.handler import CommandHandler

    class BrokerDown(Handover):
        def hand_over(self, *args, **kwargs):
            raise ConnectionError("broker down")

    statuses = services.commands._statuses
    handler = CommandHandler(EventStore(db), services.commands._skus, BrokerDown(broker, statuses), statuses)
    placing = envelope(PlaceOrder(ORDER, "cust-1", "EUR", [{"product_id": MUG, "quantity": 1}]), "c-place")
    services.commands._statuses.accept(placing)
    with pytest.raises(ConnectionError):
        handler.handle(placing)
    handler.give_up(placing, ConnectionError("broker down"))
    # It took effect, so it is not failed; nor succeeded, which would
    # promise that its follow-ups were sent
    assert services.commands._statuses.get("c-place")["status"] == "accepted"
    # The outbox sweep then sends what was missing, and only then says so
    assert services.outbox.sweep() == 0  # not before its grace period
    later = time.time() + 10
    services.outbox._clock = lambda: later
    assert services.outbox.sweep() == 1
    assert services.commands._statuses.get("c-place")["status"] == "succeeded"
    assert broker.client.llen(f"{broker.namespace}:commands") == 1
    assert services.outbox.sweep() == 0
