"""The order aggregate: what a customer asked for, and what each product
answered.  It decides alone, from its own stream; the facts it needs from
products arrive as commands sent by the order process manager."""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain import commands, events
from domain.aggregate import Aggregate
from domain.errors import DuplicateOrderLine, InvalidOrderStatus, OrderAlreadyExists, OrderNotFound
from domain.limits import MAX_INT

#: An order's statuses.
PENDING, CONFIRMED, REJECTED, CANCELLED, SHIPPED = "pending", "confirmed", "rejected", "cancelled", "shipped"
ORDER_STATUSES = (PENDING, CONFIRMED, REJECTED, CANCELLED, SHIPPED)
#: An order line's statuses (a line starts ``PENDING`` too).
RESERVED, REFUSED, RELEASED = "reserved", "refused", "released"
LINE_STATUSES = (PENDING, RESERVED, REFUSED, RELEASED, SHIPPED)

#: The reason on a line whose reservation would take the order's total past
#: ``MAX_INT``.
TOTAL_LIMIT = "total_limit"


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    status: str = PENDING
    unit_price_cents: int | None = None


@dataclass(frozen=True)
class Order(Aggregate):
    version: int = 0
    status: str | None = None
    lines: tuple[Line, ...] = ()

    def line(self, product_id: str) -> Line | None:
        return next((line for line in self.lines if line.product_id == product_id), None)

    @property
    def total_cents(self) -> int:
        """What the reserved lines come to."""
        return sum(
            line.quantity * (line.unit_price_cents or 0) for line in self.lines if line.status == RESERVED
        )

    def _set_line(self, product_id: str, **changes) -> tuple[Line, ...]:
        return tuple(
            replace(line, **changes) if line.product_id == product_id else line for line in self.lines
        )

    def apply(self, event: events.Event) -> Order:
        match event:
            case events.OrderPlaced():
                lines = tuple(Line(line["product_id"], line["quantity"]) for line in event.lines)
                state = replace(self, status=PENDING, lines=lines)
            case events.OrderLineReserved():
                state = replace(
                    self,
                    lines=self._set_line(
                        event.product_id, status=RESERVED, unit_price_cents=event.unit_price_cents
                    ),
                )
            case events.OrderLineRefused():
                state = replace(self, lines=self._set_line(event.product_id, status=REFUSED))
            case events.OrderLineReleased():
                state = replace(self, lines=self._set_line(event.product_id, status=RELEASED))
            case events.OrderLineShipped():
                state = replace(self, lines=self._set_line(event.product_id, status=SHIPPED))
            case events.OrderConfirmed():
                state = replace(self, status=CONFIRMED)
            case events.OrderRejected():
                state = replace(self, status=REJECTED)
            case events.OrderCancelled():
                state = replace(self, status=CANCELLED)
            case events.OrderShipped():
                state = replace(self, status=SHIPPED)
            case _:
                raise TypeError(f"an order cannot apply {event.type}")
        return replace(state, version=self.version + 1)

    @classmethod
    def from_snapshot(cls, data: dict) -> Order:
        return cls(data["version"], data["status"], tuple(Line(**line) for line in data["lines"]))


def decide(state: Order, command: commands.Command) -> list[events.Event]:
    """Return the events ``command`` produces against ``state`` (none when
    it changes nothing, as when a product's answer arrives twice).

    Raises:
      DomainError: a business rule refuses the command.
    """
    if isinstance(command, commands.PlaceOrder):
        if state.exists:
            raise OrderAlreadyExists(f"order {command.order_id} already exists")
        products = [line["product_id"] for line in command.lines]
        if len(set(products)) < len(products):
            # One line per product: each (order, product) pair then gets one
            # reservation command, which is what makes it reserve once.
            raise DuplicateOrderLine(f"order {command.order_id} has a product on more than one line")
        lines = [{"product_id": line["product_id"], "quantity": line["quantity"]} for line in command.lines]
        return [events.OrderPlaced(customer_id=command.customer_id, currency=command.currency, lines=lines)]
    if not state.exists:
        raise OrderNotFound(f"order {command.stream_id} does not exist")
    match command:
        case commands.MarkLineReserved():
            return _reserved(state, command)
        case commands.MarkLineRefused():
            return _refused(state, command)
        case commands.CancelOrder():
            if state.status not in (PENDING, CONFIRMED):
                raise InvalidOrderStatus(f"a {state.status} order cannot be cancelled")
            return [events.OrderCancelled(), *_release_reserved(state)]
        case commands.ShipOrder():
            if state.status != CONFIRMED:
                raise InvalidOrderStatus(f"a {state.status} order cannot be shipped")
            return [
                events.OrderShipped(),
                *(events.OrderLineShipped(line.product_id) for line in state.lines),
            ]
    raise TypeError(f"an order cannot handle {command.type}")


def _release_reserved(state: Order) -> list[events.Event]:
    return [events.OrderLineReleased(line.product_id) for line in state.lines if line.status == RESERVED]


def _reserved(state: Order, command: commands.MarkLineReserved) -> list[events.Event]:
    line = state.line(command.product_id)
    if line is None or line.status in (RESERVED, RELEASED, SHIPPED):
        return []  # not ours, or answered already
    reserved = events.OrderLineReserved(
        command.product_id, command.sku, command.name, command.unit_price_cents
    )
    if line.status == REFUSED or state.status != PENDING:
        # The order no longer wants it (rejected or cancelled meanwhile):
        # give the stock back at once.
        return [reserved, events.OrderLineReleased(command.product_id)]
    after = state.apply(reserved)
    if after.total_cents > MAX_INT:
        # No total this large can be stored or read: the product has set the
        # stock aside, so record that, give it back and refuse the line.
        released = events.OrderLineReleased(command.product_id)
        return [reserved, released, *_reject(after.apply(released), command.product_id, TOTAL_LIMIT)]
    if all(line.status == RESERVED for line in after.lines):
        return [reserved, events.OrderConfirmed(total_cents=after.total_cents)]
    return [reserved]


def _refused(state: Order, command: commands.MarkLineRefused) -> list[events.Event]:
    line = state.line(command.product_id)
    if line is None or line.status != PENDING:
        return []
    if state.status != PENDING:
        return [events.OrderLineRefused(command.product_id, command.reason)]
    return _reject(state, command.product_id, command.reason)


def _reject(state: Order, product_id: str, reason: str) -> list[events.Event]:
    # One refusal rejects the order; what was reserved for it goes back.
    return [events.OrderLineRefused(product_id, reason), events.OrderRejected(), *_release_reserved(state)]
