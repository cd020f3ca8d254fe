"""A dry run on the real Redis and store writes nothing: no Redis key, no
document in any collection, no message queued; and it reads the stream as
the worker left it (snapshots included)."""

import dataclasses

from falcon import testing

from domain.commands import AdjustStock, CreateProduct
from infra.messages import CommandEnvelope
from web.app import create_app
from web.bootstrap import build_adapters

MUG = {"sku": "DRY-MUG-1", "name": "Mug", "price_cents": 1250, "currency": "EUR", "stock": 3}


def everything(settings, db, redis_client):
    """Every Redis key of the test's namespace with its queue length, and
    every collection's document count."""
    keys = sorted(redis_client.scan_iter(match=f"{settings.redis_namespace}:*", count=1000))
    lengths = {k: redis_client.llen(k) for k in keys if redis_client.type(k) == b"list"}
    counts = {name: db[name].count_documents({}) for name in db.list_collection_names()}
    return keys, lengths, counts


def test_a_dry_run_writes_claims_and_queues_nothing(settings, db, redis_client, services):
    # Given a product the worker created, and the web app on the same services
    product_id = "3f0c1d2e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
    created = CreateProduct(product_id=product_id, **MUG)
    assert services.commands.handle(CommandEnvelope.wrap(created, command_id="c-1")).status == "succeeded"
    for n in range(2, 6):
        adjust = AdjustStock(product_id=product_id, delta=1)
        services.commands.handle(CommandEnvelope.wrap(adjust, command_id=f"c-{n}"))
    web = dataclasses.replace(settings, allow_anonymous=True)
    client = testing.TestClient(create_app(web, build_adapters(web)))
    before = everything(settings, db, redis_client)
    # When each kind of command is dry-run, some with an Idempotency-Key
    key = {"Idempotency-Key": "dry-1"}
    order = {"customer_id": "c", "currency": "EUR", "lines": [{"product_id": product_id, "quantity": 2}]}
    answers = [
        client.simulate_post("/products?dry_run=true", json={**MUG, "sku": "DRY-MUG-2"}, headers=key),
        client.simulate_post("/products?dry_run=true", json=MUG),
        client.simulate_patch(f"/products/{product_id}?dry_run=true", json={"price_cents": 990}, headers=key),
        client.simulate_post(f"/products/{product_id}/stock-adjustments?dry_run=true", json={"delta": -9}),
        client.simulate_post("/orders?dry_run=true", json=order),
        client.simulate_post(f"/orders/{product_id}/ship?dry_run=true"),
    ]
    # I expect each answered 200 as the worker would decide
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    outcomes = [(a.json["outcome"], (a.json["error"] or {}).get("code")) for a in answers]
    assert outcomes == [
        ("committed", None),
        ("rejected", "duplicate_sku"),
        ("committed", None),
        ("rejected", "insufficient_stock"),
        ("committed", None),
        ("rejected", "order_not_found"),
    ]
    assert [(e["type"], e["version"]) for e in answers[2].json["events"]] == [("ProductPriceChanged", 6)]
    # and nothing written anywhere: keys, queue lengths and documents as they were
    assert everything(settings, db, redis_client) == before
