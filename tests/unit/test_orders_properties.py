"""Properties of products, orders and the process manager, checked by
hypothesis over random command sequences and random delivery orders.

The system test runs the domain exactly as the command handler does: each
command decided against its stream, its events appended, the follow-ups
the process manager asks for queued with ids derived from their cause; a
command id seen before is not decided again.  Hypothesis picks which
queued message is delivered next, and delivers some twice."""

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import commands, events, order, process, product
from domain.errors import DomainError
from domain.projections import product_view

ORDERS = [f"o{i}" for i in range(6)]


# --- one product ---------------------------------------------------------------

product_commands = st.one_of(
    st.builds(commands.AdjustStock, product_id=st.just("p"), delta=st.integers(-15, 15).filter(bool)),
    st.builds(
        commands.ReserveStock,
        product_id=st.just("p"),
        order_id=st.sampled_from(ORDERS),
        quantity=st.integers(1, 8),
        currency=st.sampled_from(["EUR", "EUR", "EUR", "USD"]),
    ),
    st.builds(commands.ReleaseStock, product_id=st.just("p"), order_id=st.sampled_from(ORDERS)),
    st.builds(commands.ShipStock, product_id=st.just("p"), order_id=st.sampled_from(ORDERS)),
)


@settings(max_examples=300, deadline=None)
@given(initial=st.integers(0, 20), sequence=st.lists(product_commands, max_size=40))
def test_any_command_sequence_keeps_stock_consistent(initial, sequence):
    from datetime import UTC, datetime

    created = events.ProductCreated("S", "Mug", 100, "EUR", None, None, initial)
    state = product.Product.replay([created])
    doc = product_view(None, created, 1, datetime(2026, 1, 1, tzinfo=UTC))
    shipped = adjusted = 0
    for command in sequence:
        try:
            produced = product.decide(state, command)
        except DomainError:
            continue
        for event in produced:
            state = state.apply(event)
            doc = product_view(doc, event, state.version, datetime(2026, 1, 1, tzinfo=UTC))
            shipped += event.quantity if isinstance(event, events.StockShipped) else 0
            adjusted += event.delta if isinstance(event, events.StockAdjusted) else 0
        assert state.stock_available >= 0
        assert state.stock_reserved >= 0
        assert state.stock_reserved == sum(state.reservations.values())
        assert state.stock_available + state.stock_reserved + shipped == initial + adjusted
        # the read model agrees with the aggregate
        assert (doc["stock_available"], doc["stock_reserved"]) == (
            state.stock_available,
            state.stock_reserved,
        )


# --- products and orders together, in any delivery order ---------------------


@dataclass
class World:
    streams: dict[str, list] = field(default_factory=dict)
    outcomes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    queue: list[tuple[str, commands.Command]] = field(default_factory=list)

    def state(self, command: commands.Command):
        aggregate = product.Product if command.stream_type == "product" else order.Order
        return aggregate.replay(self.streams.get(command.stream_id, []))

    def deliver(self, command_id: str, command: commands.Command) -> None:
        seen = self.outcomes.get(command_id)
        if seen is not None:
            status, code = seen
            if status == "rejected":
                self._follow(f"{command_id}/rejected", process.react_to_rejection(command, code))
            return
        decide = product.decide if command.stream_type == "product" else order.decide
        try:
            produced = decide(self.state(command), command)
        except DomainError as refused:
            self.outcomes[command_id] = ("rejected", refused.code)
            self._follow(f"{command_id}/rejected", process.react_to_rejection(command, refused.code))
            return
        stream = self.streams.setdefault(command.stream_id, [])
        for event in produced:
            stream.append(event)
            self._follow(
                f"{command.stream_id}@{len(stream)}",
                process.react(command.stream_type, command.stream_id, event),
            )
        self.outcomes[command_id] = ("succeeded", None)

    def _follow(self, cause: str, follow_ups: list[commands.Command]) -> None:
        for follow_up in follow_ups:
            self.queue.append((f"{cause}/{follow_up.type}/{follow_up.stream_id}", follow_up))


@st.composite
def scenarios(draw):
    stocks = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
    products = [f"p{i}" for i in range(len(stocks))]
    user_commands = []
    for i in range(draw(st.integers(1, 6))):
        lines = draw(st.lists(st.sampled_from(products), min_size=1, max_size=len(products), unique=True))
        quantities = [draw(st.integers(1, 3)) for _ in lines]
        user_commands.append(
            commands.PlaceOrder(
                f"o{i}",
                "c",
                "EUR",
                [{"product_id": p, "quantity": q} for p, q in zip(lines, quantities, strict=True)],
            )
        )
    for _ in range(draw(st.integers(0, 6))):
        user_commands.append(
            draw(
                st.one_of(
                    st.builds(
                        commands.CancelOrder,
                        order_id=st.sampled_from([c.order_id for c in user_commands[:1]] or ["o0"]),
                    ),
                    st.builds(commands.ShipOrder, order_id=st.just("o0")),
                    st.builds(
                        commands.AdjustStock, product_id=st.sampled_from(products), delta=st.integers(1, 3)
                    ),
                )
            )
        )
    return stocks, products, user_commands


@settings(max_examples=300, deadline=None)
@given(scenario=scenarios(), data=st.data())
def test_orders_and_stock_agree_whatever_the_delivery_order(scenario, data):
    stocks, products, user_commands = scenario
    world = World()
    for p, stock in zip(products, stocks, strict=True):
        world.deliver(f"create-{p}", commands.CreateProduct(p, f"SKU-{p}", p, 100, "EUR", stock=stock))
    world.queue = [(f"user-{i}", c) for i, c in enumerate(user_commands)]
    # Hypothesis picks the order for the first 80 deliveries (and which to
    # deliver again); whatever is left is then delivered in turn.
    for step in range(2000):
        if not world.queue:
            break
        chosen = step < 80
        index = data.draw(st.integers(0, len(world.queue) - 1), label="deliver") if chosen else 0
        command_id, command = world.queue[index]
        if not (chosen and data.draw(st.booleans(), label="deliver again later")):
            world.queue.pop(index)
        world.deliver(command_id, command)
    assert not world.queue, "the process did not settle"

    orders = {oid: order.Order.replay(world.streams[oid]) for oid in world.streams if oid.startswith("o")}
    for p in products:
        state = product.Product.replay(world.streams[p])
        assert state.stock_available >= 0 and state.stock_reserved >= 0
        # a product holds a reservation for exactly the orders whose line is reserved
        holding = {oid for oid, o in orders.items() if (line := o.line(p)) and line.status == order.RESERVED}
        assert set(state.reservations) == holding
        for oid in holding:
            assert state.reservations[oid] == orders[oid].line(p).quantity
    for o in orders.values():
        statuses = {line.status for line in o.lines}
        if o.status == order.CONFIRMED:
            assert statuses == {order.RESERVED}
        if o.status in (order.REJECTED, order.CANCELLED):
            assert order.RESERVED not in statuses and order.PENDING not in statuses
        if o.status == order.REJECTED:
            assert order.REFUSED in statuses
        if o.status == order.SHIPPED:
            assert statuses == {order.SHIPPED}
        assert o.status != order.PENDING, "every order reaches a decision"
