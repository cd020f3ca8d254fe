"""The order process manager: turns facts from one aggregate into commands
for another, so that products and orders agree without a transaction.

Pure functions: the command handler runs them after each commit (and after
each rejection) and sends what they return, with ids derived from the
cause, so that a cause seen twice sends the same commands twice, and those
take effect once."""

from __future__ import annotations

from domain import commands, events


def react(stream_type: str, stream_id: str, event: events.Event) -> list[commands.Command]:
    """The commands an event calls for."""
    match event:
        case events.OrderPlaced():
            return [
                commands.ReserveStock(
                    product_id=line["product_id"],
                    order_id=stream_id,
                    quantity=line["quantity"],
                    currency=event.currency,
                )
                for line in event.lines
            ]
        case events.OrderLineReleased():
            return [commands.ReleaseStock(product_id=event.product_id, order_id=stream_id)]
        case events.OrderLineShipped():
            return [commands.ShipStock(product_id=event.product_id, order_id=stream_id)]
        case events.StockReserved():
            return [
                commands.MarkLineReserved(
                    order_id=event.order_id,
                    product_id=stream_id,
                    sku=event.sku,
                    name=event.name,
                    unit_price_cents=event.unit_price_cents,
                )
            ]
    return []


def react_to_rejection(command: commands.Command, code: str) -> list[commands.Command]:
    """The commands a refusal (with its error ``code``) calls for: a product
    that cannot reserve tells the order why."""
    if isinstance(command, commands.ReserveStock):
        return [
            commands.MarkLineRefused(order_id=command.order_id, product_id=command.product_id, reason=code)
        ]
    return []
