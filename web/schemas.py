"""Request bodies: marshmallow schemas, one per command.  Unknown fields
are refused (marshmallow's default ``RAISE``)."""

from __future__ import annotations

import pycountry
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from domain.limits import MAX_INT, MAX_LINES, MAX_PRICE_CENTS, MAX_QUANTITY, MAX_STOCK
from domain.order import ORDER_STATUSES


class FullMatch(validate.Regexp):
    """A pattern the whole value must match (``$`` alone lets a trailing
    newline through); published as is, in a form every regex engine reads."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


#: A code a client chooses (a SKU, a customer id): short, and safe in a URL.
CODE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
CODE = FullMatch(CODE_PATTERN, error="must be 1-64 of A-Z a-z 0-9 . _ -")
SKU = CODE
#: The codes of ISO 4217's current list, as the maintained ``pycountry`` has it.
CURRENCIES = sorted(currency.alpha_3 for currency in pycountry.currencies)
CURRENCY = validate.OneOf(CURRENCIES, error="must be an ISO 4217 currency code in capitals, such as EUR")


class Int(fields.Integer):
    """A JSON integer, nothing else: no strings, floats or booleans."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


def storable(text: str) -> bool:
    """No lone UTF-16 surrogates, which JSON can spell (``"\\ud800"``) but
    UTF-8, and so MongoDB, cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Text(fields.String):
    """A string that can be stored (see ``storable``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not storable(text):
            raise ValidationError("must be valid Unicode text (no lone surrogates)")
        return text


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


NAME = [validate.Length(min=1, max=200), not_blank]
DESCRIPTION = validate.Length(max=2000)
CATEGORY = validate.Length(min=1, max=64)
PRICE = validate.Range(min=0, max=MAX_PRICE_CENTS)
#: A bound on prices in a query: any amount a client can send.
MONEY = validate.Range(min=0, max=MAX_INT)


class Immutable(fields.Field):
    """A field that may not be sent: it is fixed at creation."""

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError("cannot be changed after the product is created")


class CreateProductSchema(Schema):
    sku = Text(required=True, validate=SKU)
    name = Text(required=True, validate=NAME)
    description = Text(load_default=None, allow_none=True, validate=DESCRIPTION)
    category = Text(load_default=None, allow_none=True, validate=CATEGORY)
    price_cents = Int(required=True, validate=PRICE)
    currency = Text(required=True, validate=CURRENCY)
    stock = Int(load_default=0, validate=validate.Range(min=0, max=MAX_STOCK))


class UpdateProductSchema(Schema):
    """``PATCH /products/{id}``: any of these, at least one.  ``description``
    and ``category`` may be ``null`` to clear them."""

    name = Text(validate=NAME)
    description = Text(allow_none=True, validate=DESCRIPTION)
    category = Text(allow_none=True, validate=CATEGORY)
    price_cents = Int(validate=PRICE)
    sku = Immutable()
    currency = Immutable()

    @validates_schema
    def at_least_one(self, data, **kwargs):
        if not data:
            raise ValidationError(
                "send at least one of name, description, category, price_cents", field_name="body"
            )


class StockAdjustmentSchema(Schema):
    delta = Int(required=True, validate=validate.Range(min=-MAX_STOCK, max=MAX_STOCK))
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))

    @validates_schema
    def non_zero(self, data, **kwargs):
        if data.get("delta") == 0:
            raise ValidationError("must not be 0", field_name="delta")


SORTS = ("name", "-name", "price_cents", "-price_cents")

#: A page cursor as this service makes them: base64url data, a dot, a signature.
CURSOR = [
    validate.Length(min=3, max=1024),
    FullMatch(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", error="not a cursor"),
]


class Bool(fields.Field):
    """``true`` or ``false`` in a query string, nothing else."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError("must be true or false")


class QueryInt(fields.Field):
    """A decimal integer in a query string: digits only, no sign tricks."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 16:
            raise ValidationError("must be a whole number")
        return int(value)


class ListProductsQuery(Schema):
    category = Text(validate=CATEGORY)
    in_stock = Bool()
    min_price_cents = QueryInt(validate=MONEY)
    max_price_cents = QueryInt(validate=MONEY)
    sort = Text(load_default="name", validate=validate.OneOf(SORTS))
    limit = QueryInt(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Text(validate=CURSOR)
    after = fields.UUID()  # the wait itself is ReadYourWrites' work


CUSTOMER_ID = CODE


class OrderLineSchema(Schema):
    product_id = fields.UUID(required=True)
    quantity = Int(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))


class PlaceOrderSchema(Schema):
    customer_id = Text(required=True, validate=CUSTOMER_ID)
    currency = Text(required=True, validate=CURRENCY)
    lines = fields.List(
        fields.Nested(OrderLineSchema), required=True, validate=validate.Length(min=1, max=MAX_LINES)
    )

    @validates_schema
    def each_product_once(self, data, **kwargs):
        seen = set()
        for line in data.get("lines", []):
            if line["product_id"] in seen:
                raise ValidationError(
                    f"product {line['product_id']} is on more than one line", field_name="lines"
                )
            seen.add(line["product_id"])


class CustomerOrdersQuery(Schema):
    status = Text(validate=validate.OneOf(ORDER_STATUSES))
    limit = QueryInt(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Text(validate=CURSOR)
    after = fields.UUID()  # the wait itself is ReadYourWrites' work


class AfterQuery(Schema):
    """The query string of an item route: ``after=`` alone."""

    after = fields.UUID(metadata={"description": "wait for this command's effect (see Prefer: wait)"})
