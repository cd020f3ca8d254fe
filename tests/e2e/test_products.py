"""A user's path over HTTP, against the Procfile's web, worker and projector."""

from infra.redisclient import connect_redis

MUG = {
    "sku": "E2E-MUG-1",
    "name": "Mug",
    "price_cents": 1250,
    "currency": "EUR",
    "stock": 3,
    "category": "kitchen",
}


def test_create_then_follow_the_command_then_read_the_product(stack):
    # When I create a product
    accepted = stack.post("/products", json=MUG)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted"
    assert accepted.headers["Location"] == f"/commands/{body['command_id']}"
    # I can follow the command until it succeeds
    status = stack.wait_for(body["command_id"])
    assert status["status"] == "succeeded", status
    assert (status["type"], status["stream_id"], status["version"], status["error"]) == (
        "CreateProduct", body["product_id"], 1, None
    )  # fmt: skip
    # and read the product once it is projected
    product = stack.wait_for_product(body["product_id"])
    assert product == {
        "id": body["product_id"],
        "sku": "E2E-MUG-1",
        "name": "Mug",
        "description": None,
        "category": "kitchen",
        "price_cents": 1250,
        "currency": "EUR",
        "stock_available": 3,
        "stock_reserved": 0,
        "version": 1,
        "created_at": product["created_at"],
        "updated_at": product["created_at"],
    }
    assert product["created_at"].endswith("Z")


def test_a_duplicate_sku_ends_rejected(stack):
    first = stack.post("/products", json={**MUG, "sku": "E2E-DUP"}).json()
    assert stack.wait_for(first["command_id"])["status"] == "succeeded"
    second = stack.post("/products", json={**MUG, "sku": "E2E-DUP", "name": "Other"})
    assert second.status_code == 202
    status = stack.wait_for(second.json()["command_id"])
    assert status["status"] == "rejected"
    assert status["error"]["code"] == "duplicate_sku"
    assert stack.get(f"/products/{second.json()['product_id']}").status_code == 404


def test_an_invalid_body_gets_422_and_nothing_is_queued(stack):
    r = connect_redis(stack.settings)
    try:
        pattern = f"{stack.settings.redis_namespace}:command:*"
        before = sorted(r.scan_iter(match=pattern))
        answer = stack.post("/products", json={**MUG, "price_cents": -5, "currency": "eur"})
        assert answer.status_code == 422
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert set(answer.json()["errors"]) == {"price_cents", "currency"}
        malformed = stack.post("/products", data="{nope", headers={"Content-Type": "application/json"})
        assert malformed.status_code == 400
        # the web tier writes a status before it queues: no new status, nothing queued
        assert sorted(r.scan_iter(match=pattern)) == before
        assert r.llen(f"{stack.settings.redis_namespace}:commands") == 0
    finally:
        r.close()


def test_unknown_ids_get_404_problems(stack):
    for path in ("/products/00000000-0000-4000-8000-000000000000", "/commands/not-a-uuid"):
        answer = stack.get(path)
        assert answer.status_code == 404
        assert answer.headers["Content-Type"] == "application/problem+json"
