"""Example bodies for the contract's docs page: one product, one order of
it, and what the routes answer about them."""

from __future__ import annotations

from domain.order import CONFIRMED, RESERVED
from infra.statuses import ACCEPTED, SUCCEEDED

PRODUCT_ID = "5b0c5c8e-2f1a-4a8e-9d3c-7e41f0a6b2d9"
ORDER_ID = "c2a4e9d1-6b7f-4f0e-8a35-19d2b7e4c6a0"
COMMAND_ID = "9e8f7a61-3c2d-4b5e-a1f0-6d7c8b9a0e12"

CREATE_PRODUCT = {
    "sku": "MUG-1",
    "name": "Mug",
    "description": "Stoneware, 350 ml",
    "category": "kitchen",
    "price_cents": 1250,
    "currency": "EUR",
    "stock": 3,
}
UPDATE_PRODUCT = {"price_cents": 990, "description": None}
STOCK_ADJUSTMENT = {"delta": -2, "reason": "broken in transit"}
PLACE_ORDER = {
    "customer_id": "cust-42",
    "currency": "EUR",
    "lines": [{"product_id": PRODUCT_ID, "quantity": 2}],
}

PRODUCT_ACCEPTED = {"command_id": COMMAND_ID, "status": ACCEPTED, "product_id": PRODUCT_ID}
ORDER_ACCEPTED = {"command_id": COMMAND_ID, "status": ACCEPTED, "order_id": ORDER_ID}

#: ``PATCH /products/{id}?dry_run=true`` with UPDATE_PRODUCT, just after the create.
PRODUCT_DRY_RUN = {
    "dry_run": True,
    "command": "UpdateProduct",
    "stream_type": "product",
    "stream_id": PRODUCT_ID,
    "outcome": "committed",
    "version": 3,
    "events": [
        {
            "type": "ProductDetailsChanged",
            "version": 2,
            "schema": 1,
            "data": {"name": "Mug", "description": None, "category": "kitchen"},
        },
        {
            "type": "ProductPriceChanged",
            "version": 3,
            "schema": 1,
            "data": {"price_cents": 990, "previous_price_cents": 1250},
        },
    ],
    "error": None,
}
#: ``POST /orders/{id}/ship?dry_run=true`` while the order is pending.
ORDER_DRY_RUN = {
    "dry_run": True,
    "command": "ShipOrder",
    "stream_type": "order",
    "stream_id": ORDER_ID,
    "outcome": "rejected",
    "version": None,
    "events": [],
    "error": {"code": "invalid_order_status", "detail": "a pending order cannot be shipped"},
}

COMMAND = {
    "command_id": COMMAND_ID,
    "type": "CreateProduct",
    "status": SUCCEEDED,
    "submitted_at": "2026-11-26T05:34:19.395Z",
    "completed_at": "2026-11-26T05:34:19.713Z",
    "stream_id": PRODUCT_ID,
    "version": 1,
    "error": None,
}
#: ``GET /commands/{id}/events`` for a product's creation, as sent.
STORY = "".join(
    f"id: {entry_id}\nevent: {event}\ndata: {data}\n\n"
    for entry_id, event, data in (
        ("1", "accepted", f'{{"command_id":"{COMMAND_ID}","type":"CreateProduct",'
         f'"stream_id":"{PRODUCT_ID}","submitted_at":"2026-11-26T05:34:19.395Z"}}'),
        ("2", "committed", f'{{"command_id":"{COMMAND_ID}","type":"CreateProduct",'
         f'"stream_id":"{PRODUCT_ID}","stream_type":"product","version_from":1,"version_to":1,'
         '"events":[{"type":"ProductCreated","version":1}]}'),
        ("3", "status", f'{{"command_id":"{COMMAND_ID}","type":"CreateProduct",'
         '"status":"succeeded","version":1,"error":null}'),
        ("4", "projected", f'{{"command_id":"{COMMAND_ID}","read_model":"products",'
         f'"stream_id":"{PRODUCT_ID}","version":1}}'),
        ("5", "end", f'{{"command_id":"{COMMAND_ID}","type":"CreateProduct",'
         '"status":"succeeded","version":1,"error":null}'),
    )
)  # fmt: skip
PRODUCT = {
    "id": PRODUCT_ID,
    **{k: CREATE_PRODUCT[k] for k in ("sku", "name", "description", "category", "price_cents", "currency")},
    "stock_available": 1,
    "stock_reserved": 2,
    "version": 2,
    "created_at": "2026-11-26T05:34:19.712Z",
    "updated_at": "2026-11-26T05:40:00.150Z",
}
PRODUCT_PAGE = {"items": [PRODUCT], "next_cursor": None}
ORDER = {
    "id": ORDER_ID,
    "customer_id": "cust-42",
    "status": CONFIRMED,
    "currency": "EUR",
    "lines": [
        {
            "product_id": PRODUCT_ID,
            "sku": "MUG-1",
            "name": "Mug",
            "quantity": 2,
            "unit_price_cents": 1250,
            "line_total_cents": 2500,
            "status": RESERVED,
            "reason": None,
        }
    ],
    "total_cents": 2500,
    "version": 3,
    "placed_at": "2026-11-26T05:40:00.120Z",
    "updated_at": "2026-11-26T05:40:00.161Z",
}
ORDER_PAGE = {"items": [ORDER], "next_cursor": None}
PRODUCT_HISTORY = {
    "items": [
        {
            "type": "ProductCreated",
            "version": 1,
            "schema": 2,
            "data": {**{k: v for k, v in CREATE_PRODUCT.items() if k != "stock"}, "initial_stock": 3},
            "recorded_at": "2026-11-26T05:34:19.712Z",
            "command_id": COMMAND_ID,
        },
        {
            "type": "StockReserved",
            "version": 2,
            "schema": 1,
            "data": {
                "order_id": ORDER_ID,
                "quantity": 2,
                "unit_price_cents": 1250,
                "sku": "MUG-1",
                "name": "Mug",
            },
            "recorded_at": "2026-11-26T05:40:00.150Z",
            "command_id": "1d3e5f70-8a9b-4c0d-b1e2-f3a4b5c6d7e8",
        },
    ]
}
ORDER_HISTORY = {
    "items": [
        {
            "type": "OrderPlaced",
            "version": 1,
            "schema": 1,
            "data": {
                "customer_id": "cust-42",
                "currency": "EUR",
                "lines": [{"product_id": PRODUCT_ID, "quantity": 2}],
            },
            "recorded_at": "2026-11-26T05:40:00.120Z",
            "command_id": "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d",
        },
    ]
}

EVENT_CATALOGUE = {
    "events": [
        {
            "type": "StockAdjusted",
            "current_schema": 1,
            "schemas": [
                {
                    "schema": 1,
                    "json_schema": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "title": "StockAdjusted data, schema 1",
                        "type": "object",
                        "properties": {
                            "delta": {"type": "integer"},
                            "reason": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        },
                        "required": ["delta", "reason"],
                        "additionalProperties": False,
                    },
                }
            ],
        }
    ]
}

DEAD_LETTER = {
    "id": f"project_stream:{PRODUCT_ID}:3",
    "handler": "project_stream",
    "stream_type": "product",
    "stream_id": PRODUCT_ID,
    "version": 3,
    "error": "KeyError: 'price_cents'",
    "recorded_at": "2026-11-26T05:41:00.000Z",
    "attempts": 1,
}
DEAD_LETTERS = {"count": 1, "letters": [DEAD_LETTER]}
RETRY_QUEUED = {"letter_id": DEAD_LETTER["id"], "status": "queued"}
OPS_DATA = {
    "at": 1795671660.5,
    "sources": {"redis": True, "mongodb": True},
    "queues": [
        {"queue": "commands", "depth": 4, "oldest_age_s": 0.8, "retries": 0, "dead": 0},
        {"queue": "projections", "depth": 0, "oldest_age_s": 0.0, "retries": 1, "dead": 0},
    ],
    "outcomes": [
        {"type": "CreateProduct", "outcome": "succeeded", "count": 120},
        {"type": "PlaceOrder", "outcome": "rejected", "count": 3},
    ],
    "lag": [
        {"read_model": "products", "versions": 1, "seconds": 0.4},
        {"read_model": "orders", "versions": 0, "seconds": 0.0},
    ],
    "lag_measured_age_s": 6.2,
    "dead_letters": DEAD_LETTERS,
    "rebuilds": [
        {"read_model": "products", "state": "building", "active": "products",
         "building": "products__20261126054000_1a2b3c", "lease_left_s": 24.5},
        {"read_model": "orders", "state": "idle", "active": "orders", "building": None, "lease_left_s": None},
    ],
}  # fmt: skip
