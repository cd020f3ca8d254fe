"""Readiness follows the store; backpressure refuses commands and queues
nothing while queries go on."""

from dataclasses import replace

import dramatiq
from falcon import testing

from infra.embedded import free_port, start_mongo
from infra.settings import Settings
from web.app import create_app
from web.bootstrap import build_adapters


def test_ready_is_503_while_the_store_is_down_and_200_when_it_is_back(settings, tmp_path):
    # A store of this test's own, so that stopping it disturbs nobody.
    port = free_port()
    server = start_mongo(tmp_path / "store", port=port)
    try:
        own = replace(settings, mongodb_uri=server.url, allow_anonymous=True)
        client = testing.TestClient(create_app(own, build_adapters(own)))
        assert client.simulate_get("/ready").json == {"status": "ready", "redis": "ok", "mongodb": "ok"}
        assert client.simulate_get("/health").status_code == 200
        server.stop()
        down = client.simulate_get("/ready")
        assert down.status_code == 503 and down.json["down"] == ["mongodb"]
        assert down.headers["Content-Type"] == "application/problem+json"
        assert client.simulate_get("/health").status_code == 200  # no I/O
        server = start_mongo(tmp_path / "store", port=port)
        assert client.simulate_get("/ready").status_code == 200
    finally:
        server.stop()


def test_a_deep_queue_refuses_commands_and_queues_nothing(settings, broker, redis_client):
    # Given more waiting commands than the service accepts
    for i in range(4):
        broker.enqueue(
            dramatiq.Message(queue_name="commands", actor_name="x", args=(i,), kwargs={}, options={})
        )
    busy: Settings = replace(settings, max_queue_depth=3, allow_anonymous=True)
    client = testing.TestClient(create_app(busy, build_adapters(busy)))
    before = redis_client.llen(f"{settings.redis_namespace}:commands")
    statuses = list(redis_client.scan_iter(match=f"{settings.redis_namespace}:command:*"))
    # When a command arrives
    answer = client.simulate_post(
        "/products", json={"sku": "S", "name": "n", "price_cents": 1, "currency": "EUR"}
    )
    # I expect 503 with Retry-After, nothing queued, and queries answered
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "10"
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert redis_client.llen(f"{settings.redis_namespace}:commands") == before
    assert list(redis_client.scan_iter(match=f"{settings.redis_namespace}:command:*")) == statuses
    assert client.simulate_get("/products").status_code == 200
