"""Response bodies: marshmallow schemas, one per shape the API answers with.

They serve twice: the contract (web.contract) publishes them, and the
read side dumps what it sends through them, so that what is sent and what
is published cannot part.  Problem details are written by web.problems
(RFC 9457 lets a problem carry members of its own, such as ``down``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, fields

from domain.order import LINE_STATUSES, ORDER_STATUSES
from infra.commits import REFUSED, UNCHANGED
from infra.messages import rfc3339
from infra.statuses import ACCEPTED, STATUSES


class Timestamp(fields.String):
    """An RFC 3339 instant: a read model's ``datetime``, or a string already
    in that form (a command's status keeps strings)."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"format": "date-time"}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return (
            rfc3339(value) if isinstance(value, datetime) else super()._serialize(value, attr, obj, **kwargs)
        )


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class AcceptedSchema(Schema):
    command_id = fields.UUID(required=True)
    status = fields.String(required=True, metadata={"enum": [ACCEPTED]})


class ProductAcceptedSchema(AcceptedSchema):
    product_id = fields.UUID(required=True)


class OrderAcceptedSchema(AcceptedSchema):
    order_id = fields.UUID(required=True)


class CommandErrorSchema(Schema):
    code = fields.String(required=True)
    detail = fields.String(required=True)


class CommandSchema(Schema):
    command_id = fields.UUID(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    submitted_at = Timestamp(required=True)
    completed_at = Timestamp(required=True, allow_none=True)
    stream_id = fields.String(required=True)
    version = fields.Integer(required=True, allow_none=True)
    error = fields.Nested(CommandErrorSchema, required=True, allow_none=True)


#: A dry run's outcome when the command would commit events.
COMMITTED = "committed"


class ProposedEventSchema(Schema):
    type = fields.String(required=True)
    #: The version the event would take in its stream.
    version = fields.Integer(required=True)
    schema = fields.Integer(required=True)
    data = fields.Dict(required=True)


class DryRunSchema(Schema):
    """What a command would do (``?dry_run=true``): nothing is written."""

    dry_run = fields.Boolean(required=True, metadata={"enum": [True]})
    command = fields.String(required=True)
    stream_type = fields.String(required=True)
    stream_id = fields.UUID(required=True, metadata={"description": "a create's: the id it would use"})
    outcome = fields.String(required=True, metadata={"enum": [COMMITTED, UNCHANGED, REFUSED]})
    version = fields.Integer(
        required=True, allow_none=True, metadata={"description": "as the command's status would say"}
    )
    events = fields.List(fields.Nested(ProposedEventSchema), required=True)
    error = fields.Nested(CommandErrorSchema, required=True, allow_none=True)


class ProductSchema(Schema):
    id = fields.UUID(required=True)
    sku = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True, allow_none=True, dump_default=None)
    category = fields.String(required=True, allow_none=True, dump_default=None)
    price_cents = fields.Integer(required=True)
    currency = fields.String(required=True)
    stock_available = fields.Integer(required=True)
    stock_reserved = fields.Integer(required=True)
    version = fields.Integer(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    stuck = fields.Boolean(
        metadata={"description": "present (true) while a dead letter holds the document up"}
    )


class ProductPageSchema(Schema):
    items = fields.List(fields.Nested(ProductSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class OrderLineViewSchema(Schema):
    product_id = fields.UUID(required=True)
    sku = fields.String(required=True, allow_none=True)
    name = fields.String(required=True, allow_none=True)
    quantity = fields.Integer(required=True)
    unit_price_cents = fields.Integer(required=True, allow_none=True)
    line_total_cents = fields.Integer(required=True, allow_none=True)
    status = fields.String(
        required=True, metadata={"enum": list(LINE_STATUSES)}
    )
    reason = fields.String(required=True, allow_none=True)


class OrderSchema(Schema):
    id = fields.UUID(required=True)
    customer_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(ORDER_STATUSES)})
    currency = fields.String(required=True)
    lines = fields.List(fields.Nested(OrderLineViewSchema), required=True)
    total_cents = fields.Integer(required=True, allow_none=True)
    version = fields.Integer(required=True)
    placed_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    stuck = fields.Boolean()


class OrderPageSchema(Schema):
    items = fields.List(fields.Nested(OrderSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class EventSchema(Schema):
    type = fields.String(required=True)
    version = fields.Integer(required=True)
    #: The version of the type's shape ``data`` was stored in
    #: (``GET /events/schemas``); 1 for events stored before it was kept.
    schema = fields.Integer(required=True)
    data = fields.Dict(required=True)
    recorded_at = Timestamp(required=True)
    command_id = fields.String(required=True)


class HistorySchema(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)


class EventTypeVersionSchema(Schema):
    schema = fields.Integer(required=True)
    json_schema = fields.Dict(required=True, metadata={"description": "JSON Schema of the event's data"})


class EventTypeSchema(Schema):
    type = fields.String(required=True)
    current_schema = fields.Integer(required=True)
    schemas = fields.List(fields.Nested(EventTypeVersionSchema), required=True)


class EventCatalogueSchema(Schema):
    events = fields.List(fields.Nested(EventTypeSchema), required=True)


class DeadLetterSchema(Schema):
    id = fields.String(required=True)
    handler = fields.String(required=True)
    stream_type = fields.String(required=True)
    stream_id = fields.String(required=True)
    version = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True)
    recorded_at = Timestamp(required=True)
    attempts = fields.Integer(required=True)


class DeadLettersSchema(Schema):
    count = fields.Integer(required=True, metadata={"description": "about how many are kept"})
    letters = fields.List(
        fields.Nested(DeadLetterSchema), required=True, metadata={"description": "the oldest, at most 100"}
    )


class RetryQueuedSchema(Schema):
    letter_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["queued"]})


class QueueStateSchema(Schema):
    queue = fields.String(required=True)
    depth = fields.Integer(required=True)
    oldest_age_s = fields.Float(required=True)
    retries = fields.Integer(required=True)
    dead = fields.Integer(required=True)


class OutcomeCountSchema(Schema):
    type = fields.String(required=True)
    outcome = fields.String(required=True)
    count = fields.Integer(required=True, metadata={"description": "since the counters began"})


class LagStateSchema(Schema):
    read_model = fields.String(required=True)
    versions = fields.Integer(required=True)
    seconds = fields.Float(required=True)


class RebuildStateSchema(Schema):
    read_model = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["idle", "building", "lapsed"]})
    active = fields.String(required=True)
    building = fields.String(required=True, allow_none=True)
    lease_left_s = fields.Float(required=True, allow_none=True)


class OpsDataSchema(Schema):
    at = fields.Float(required=True, metadata={"description": "when it was read (Unix seconds)"})
    sources = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(),
        required=True,
        metadata={"description": "whether Redis and MongoDB answered; what one did not is null"},
    )
    queues = fields.List(fields.Nested(QueueStateSchema), required=True, allow_none=True)
    outcomes = fields.List(fields.Nested(OutcomeCountSchema), required=True, allow_none=True)
    lag = fields.List(fields.Nested(LagStateSchema), required=True, allow_none=True)
    lag_measured_age_s = fields.Float(required=True, allow_none=True)
    dead_letters = fields.Nested(DeadLettersSchema, required=True, allow_none=True)
    rebuilds = fields.List(fields.Nested(RebuildStateSchema), required=True, allow_none=True)


#: Every response schema under its name in the contract's components.
COMPONENTS: dict[str, type[Schema]] = {
    "Problem": ProblemSchema,
    "ProductAccepted": ProductAcceptedSchema,
    "OrderAccepted": OrderAcceptedSchema,
    "Command": CommandSchema,
    "DryRun": DryRunSchema,
    "Product": ProductSchema,
    "ProductPage": ProductPageSchema,
    "Order": OrderSchema,
    "OrderPage": OrderPageSchema,
    "History": HistorySchema,
    "EventCatalogue": EventCatalogueSchema,
    "DeadLetters": DeadLettersSchema,
    "RetryQueued": RetryQueuedSchema,
    "OpsData": OpsDataSchema,
}

# One instance of each, for dumping (a schema instance holds no request state).
PRODUCT_ACCEPTED = ProductAcceptedSchema()
ORDER_ACCEPTED = OrderAcceptedSchema()
COMMAND = CommandSchema()
DRY_RUN = DryRunSchema()
PRODUCT = ProductSchema()
ORDER = OrderSchema()
EVENT = EventSchema()
DEAD_LETTERS = DeadLettersSchema()
OPS_DATA = OpsDataSchema()


def from_read_model(doc: dict[str, Any]) -> dict[str, Any]:
    """A read-model document under the names its schema dumps: ``_id`` as
    ``id``, and ``stuck`` (the dead letter holding it up) as just ``true``."""
    fields_ = {k: v for k, v in doc.items() if k not in ("_id", "stuck")}
    return fields_ | {"id": doc["_id"]} | ({"stuck": True} if doc.get("stuck") else {})


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    """A page of items already dumped (``ProductPage``, ``OrderPage``)."""
    return {"items": items, "next_cursor": next_cursor}
