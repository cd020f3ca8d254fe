"""Request bodies: marshmallow schemas, one per command.  Unknown fields
are refused (marshmallow's default ``RAISE``)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

#: The largest integer every JSON client reads exactly (2**53 - 1).
MAX_JSON_INT = 9_007_199_254_740_991

SKU = validate.Regexp(r"^[A-Za-z0-9._-]{1,64}\Z", error="must be 1-64 of A-Z a-z 0-9 . _ -")
CURRENCY = validate.Regexp(r"^[A-Z]{3}\Z", error="must be 3 upper-case letters (ISO 4217)")


class Int(fields.Integer):
    """A JSON integer, nothing else: no strings, floats or booleans."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


class CreateProductSchema(Schema):
    sku = fields.String(required=True, validate=SKU)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), not_blank])
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    category = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    price_cents = Int(required=True, validate=validate.Range(min=0, max=MAX_JSON_INT))
    currency = fields.String(required=True, validate=CURRENCY)
    stock = Int(load_default=0, validate=validate.Range(min=0, max=MAX_JSON_INT))
