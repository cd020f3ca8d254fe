"""Dry runs over HTTP against the Procfile's processes: with nothing
changed in between, the real command then commits the events the dry run
showed, at the same versions, or is refused with the same code and
detail."""

import uuid

FIELDS = ("type", "version", "schema", "data")


def create_product(stack, stock=3):
    body = {"sku": f"E2E-DRY-{uuid.uuid4().hex[:8]}", "name": "Mug", "price_cents": 1250, "currency": "EUR"}
    accepted = stack.post("/products", json={**body, "stock": stock}).json()
    assert stack.wait_for(accepted["command_id"])["status"] == "succeeded"
    return accepted["product_id"]


def committed(stack, path, versions):
    """The events of ``path``'s history at ``versions``, as a dry run shows them."""
    items = stack.get(path).json()["items"]
    return [{k: e[k] for k in FIELDS} for e in items if e["version"] in versions]


def test_a_product_update_commits_what_its_dry_run_showed(stack):
    product_id = create_product(stack)
    change = {"name": "Big mug", "price_cents": 1490}
    # When I dry-run the update
    dry = stack.patch(f"/products/{product_id}", params={"dry_run": "true"}, json=change)
    assert dry.status_code == 200, dry.text
    shown = dry.json()
    assert (shown["outcome"], shown["stream_id"], shown["version"]) == ("committed", product_id, 3)
    # and then send it for real
    real = stack.patch(f"/products/{product_id}", json=change).json()
    status = stack.wait_for(real["command_id"])
    # I expect the same events at the same versions, and the status's version
    assert status["status"] == "succeeded" and status["version"] == shown["version"]
    versions = {e["version"] for e in shown["events"]}
    assert committed(stack, f"/products/{product_id}/history", versions) == shown["events"]


def test_an_order_placement_commits_what_its_dry_run_showed(stack):
    product_id = create_product(stack)
    lines = [{"product_id": product_id, "quantity": 2}]
    order = {"customer_id": "cust-dry", "currency": "EUR", "lines": lines}
    dry = stack.post("/orders?dry_run=true", json=order)
    assert dry.status_code == 200, dry.text
    shown = dry.json()
    assert shown["outcome"] == "committed" and [e["type"] for e in shown["events"]] == ["OrderPlaced"]
    # The real command makes an id of its own: the dry run's stays unused
    real = stack.post("/orders", json=order).json()
    assert real["order_id"] != shown["stream_id"]
    assert stack.wait_for(real["command_id"])["version"] == shown["version"]
    assert committed(stack, f"/orders/{real['order_id']}/history", {1}) == shown["events"]
    assert stack.get(f"/orders/{shown['stream_id']}").status_code == 404


def test_a_refusal_shown_by_a_dry_run_is_the_one_the_command_records(stack):
    product_id = create_product(stack, stock=3)
    path = f"/products/{product_id}/stock-adjustments"
    dry = stack.post(path, params={"dry_run": "true"}, json={"delta": -5})
    assert dry.status_code == 200, dry.text
    assert (dry.json()["outcome"], dry.json()["events"]) == ("rejected", [])
    status = stack.wait_for(stack.post(path, json={"delta": -5}).json()["command_id"])
    assert status["status"] == "rejected" and status["error"] == dry.json()["error"]
    assert status["error"]["code"] == "insufficient_stock"
