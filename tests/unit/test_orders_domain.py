"""Orders, reservations and the process manager, in the pure domain."""

import pytest

from domain import commands, events, process
from domain.errors import (
    CurrencyMismatch,
    DuplicateOrderLine,
    InsufficientStock,
    InvalidOrderStatus,
    ProductNotFound,
)
from domain.limits import MAX_INT
from domain.order import REFUSED, REJECTED, RESERVED, Order
from domain.order import decide as decide_order
from domain.product import Product
from domain.product import decide as decide_product

PRODUCT = Product.replay([events.ProductCreated("MUG-1", "Mug", 1250, "EUR", None, None, 5)])


def order_with(*lines, status_events=()):
    placed = events.OrderPlaced("cust", "EUR", [{"product_id": p, "quantity": q} for p, q in lines])
    return Order.replay([placed, *status_events])


def test_placing_an_order_asks_each_product_to_reserve():
    [placed] = decide_order(
        Order(),
        commands.PlaceOrder(
            "o1", "cust", "EUR", [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": 1}]
        ),
    )
    assert process.react("order", "o1", placed) == [
        commands.ReserveStock("p1", "o1", 2, "EUR"),
        commands.ReserveStock("p2", "o1", 1, "EUR"),
    ]


def test_a_product_reserves_at_the_current_price_and_answers_the_order():
    [reserved] = decide_product(PRODUCT, commands.ReserveStock("p1", "o1", 2, "EUR"))
    assert reserved == events.StockReserved("o1", 2, 1250, "MUG-1", "Mug")
    after = PRODUCT.apply(reserved)
    assert (after.stock_available, after.stock_reserved) == (3, 2)
    assert process.react("product", "p1", reserved) == [
        commands.MarkLineReserved("o1", "p1", "MUG-1", "Mug", 1250)
    ]


@pytest.mark.parametrize(
    "state, command, error",
    [
        (PRODUCT, commands.ReserveStock("p1", "o1", 6, "EUR"), InsufficientStock),
        (PRODUCT, commands.ReserveStock("p1", "o1", 1, "USD"), CurrencyMismatch),
        (Product(), commands.ReserveStock("p1", "o1", 1, "EUR"), ProductNotFound),
    ],
)
def test_a_product_refuses_what_it_cannot_reserve_and_the_order_hears_why(state, command, error):
    with pytest.raises(error) as refused:
        decide_product(state, command)
    assert process.react_to_rejection(command, refused.value.code) == [
        commands.MarkLineRefused("o1", "p1", refused.value.code)
    ]


def test_reserving_twice_for_one_order_reserves_once():
    reserved = PRODUCT.apply(decide_product(PRODUCT, commands.ReserveStock("p1", "o1", 2, "EUR"))[0])
    assert decide_product(reserved, commands.ReserveStock("p1", "o1", 2, "EUR")) == []


def test_releasing_or_shipping_an_unknown_reservation_changes_nothing():
    assert decide_product(PRODUCT, commands.ReleaseStock("p1", "o9")) == []
    assert decide_product(PRODUCT, commands.ShipStock("p1", "o9")) == []


def test_release_gives_stock_back_and_ship_does_not():
    reserved = PRODUCT.apply(decide_product(PRODUCT, commands.ReserveStock("p1", "o1", 2, "EUR"))[0])
    released = reserved.apply(decide_product(reserved, commands.ReleaseStock("p1", "o1"))[0])
    assert (released.stock_available, released.stock_reserved) == (5, 0)
    shipped = reserved.apply(decide_product(reserved, commands.ShipStock("p1", "o1"))[0])
    assert (shipped.stock_available, shipped.stock_reserved) == (3, 0)
    # A product keeps no trace of settled orders: it reserves once per order
    # because an order sends one ReserveStock per product (below), decided
    # once by the event store (tests/integration/test_snapshots.py).
    assert released.to_snapshot()["reservations"] == {} == shipped.to_snapshot()["reservations"]


def test_an_order_holds_each_product_on_one_line():
    with pytest.raises(DuplicateOrderLine):
        decide_order(
            Order(),
            commands.PlaceOrder(
                "o1",
                "cust",
                "EUR",
                [{"product_id": "p1", "quantity": 1}, {"product_id": "p1", "quantity": 2}],
            ),
        )


def test_an_order_is_confirmed_when_every_line_is_reserved():
    state = order_with(("p1", 2), ("p2", 1))
    first = decide_order(state, commands.MarkLineReserved("o1", "p1", "A", "a", 500))
    assert first == [events.OrderLineReserved("p1", "A", "a", 500)]
    state = Order.replay(
        [
            events.OrderPlaced(
                "cust", "EUR", [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": 1}]
            ),
            *first,
        ]
    )
    assert decide_order(state, commands.MarkLineReserved("o1", "p2", "B", "b", 300)) == [
        events.OrderLineReserved("p2", "B", "b", 300),
        events.OrderConfirmed(total_cents=1300),
    ]
    # the same answer again changes nothing
    assert decide_order(state, commands.MarkLineReserved("o1", "p1", "A", "a", 500)) == []


def test_one_refusal_rejects_the_order_and_releases_what_was_reserved():
    state = order_with(("p1", 2), ("p2", 1), status_events=[events.OrderLineReserved("p1", "A", "a", 500)])
    produced = decide_order(state, commands.MarkLineRefused("o1", "p2", "insufficient_stock"))
    assert produced == [
        events.OrderLineRefused("p2", "insufficient_stock"),
        events.OrderRejected(),
        events.OrderLineReleased("p1"),
    ]
    assert [c for e in produced for c in process.react("order", "o1", e)] == [
        commands.ReleaseStock("p1", "o1")
    ]


def test_an_order_whose_total_would_pass_the_limit_is_rejected_and_holds_no_stock():
    # Given an order for 1,000 of each of two products whose price (set before
    # prices were capped) is about 4.6e15 cents: together about 9.2e18, more
    # than a 64-bit store or a JSON client holds
    price = 4_611_686_018_427_388  # 2 x 1,000 x price > 2**63
    state = order_with(("p1", 1000), ("p2", 1000))
    produced, follow_ups = [], []
    # When both products answer that they reserved the stock
    for product_id in ("p1", "p2"):
        for event in decide_order(state, commands.MarkLineReserved("o1", product_id, "S", "n", price)):
            state = state.apply(event)
            produced.append(event)
            follow_ups += process.react("order", "o1", event)
    # I expect no total computed, the order rejected with the reason on the
    # line that passed the limit, and every unit set aside given back
    assert not any(isinstance(event, events.OrderConfirmed) for event in produced)
    assert state.status == REJECTED
    assert state.line("p1").status == REFUSED
    assert events.OrderLineRefused("p1", "total_limit") in produced
    assert RESERVED not in {line.status for line in state.lines}
    assert follow_ups == [commands.ReleaseStock("p1", "o1"), commands.ReleaseStock("p2", "o1")]


def test_an_order_total_of_exactly_the_limit_is_confirmed():
    state = order_with(("p1", 1), ("p2", 1), status_events=[events.OrderLineReserved("p1", "A", "a", 1)])
    assert decide_order(state, commands.MarkLineReserved("o1", "p2", "B", "b", MAX_INT - 1)) == [
        events.OrderLineReserved("p2", "B", "b", MAX_INT - 1),
        events.OrderConfirmed(total_cents=MAX_INT),
    ]


def test_a_reservation_arriving_after_the_order_ended_is_given_back():
    state = order_with(("p1", 1), ("p2", 1), status_events=[events.OrderCancelled()])
    assert decide_order(state, commands.MarkLineReserved("o1", "p1", "A", "a", 5)) == [
        events.OrderLineReserved("p1", "A", "a", 5),
        events.OrderLineReleased("p1"),
    ]


def test_cancel_and_ship_follow_the_lifecycle():
    pending = order_with(("p1", 1))
    confirmed = pending.apply(events.OrderLineReserved("p1", "A", "a", 5)).apply(events.OrderConfirmed(5))
    assert decide_order(pending, commands.CancelOrder("o1")) == [events.OrderCancelled()]
    assert decide_order(confirmed, commands.CancelOrder("o1")) == [
        events.OrderCancelled(),
        events.OrderLineReleased("p1"),
    ]
    shipped = decide_order(confirmed, commands.ShipOrder("o1"))
    assert shipped == [events.OrderShipped(), events.OrderLineShipped("p1")]
    assert process.react("order", "o1", shipped[1]) == [commands.ShipStock("p1", "o1")]
    for state, command in [
        (pending, commands.ShipOrder("o1")),
        (confirmed.apply(shipped[0]), commands.CancelOrder("o1")),
        (pending.apply(events.OrderCancelled()), commands.CancelOrder("o1")),
        (pending.apply(events.OrderRejected()), commands.ShipOrder("o1")),
    ]:
        with pytest.raises(InvalidOrderStatus) as refused:
            decide_order(state, command)
        assert refused.value.code == "invalid_order_status"
