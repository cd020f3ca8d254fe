"""``rediss://`` against a Redis that speaks only TLS, with a certificate
no system trusts (as a platform's managed Redis has): refused while
verification is on, served with ``REDIS_TLS_VERIFY=none``, with the URL's
``ssl_cert_reqs=none`` or with the authority in ``REDIS_TLS_CA_FILE``."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import redis
from dramatiq import Worker
from falcon import testing

from infra.broker import build_broker
from infra.redisclient import connect_redis
from tests.conftest import cleanup
from web.app import create_app
from web.bootstrap import build_adapters
from workers.actors import declare
from workers.bootstrap import build_services

MUG = {"sku": "TLS-MUG-1", "name": "Mug", "price_cents": 1250, "currency": "EUR", "stock": 3}


@pytest.fixture
def on_tls(settings, tls_redis):
    """This test's settings, pointed at the TLS Redis (verification on)."""
    own = replace(settings, redis_url=tls_redis.url, allow_anonymous=True)
    yield own
    cleanup(replace(own, redis_tls_verify=False))


def test_verification_refuses_the_untrusted_certificate_and_says_what_to_set(on_tls):
    # Given the default REDIS_TLS_VERIFY=required
    # When any client of the service connects: the one every process builds, and the broker's
    for client in (connect_redis(on_tls), build_broker(on_tls).client):
        with pytest.raises(redis.ConnectionError) as refused:
            client.ping()
        client.close()
        # I expect a refusal that names the cause and the settings that accept the server
        message = str(refused.value)
        assert "certificate verify failed" in message
        assert "REDIS_TLS_VERIFY=none" in message and "REDIS_TLS_CA_FILE" in message


def test_the_web_is_not_ready_while_it_refuses_the_certificate(on_tls):
    client = testing.TestClient(create_app(on_tls, build_adapters(on_tls)))
    answer = client.simulate_get("/ready")
    assert answer.status_code == 503 and answer.json["down"] == ["redis"]


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(lambda s, tls: replace(s, redis_tls_verify=False), id="REDIS_TLS_VERIFY=none"),
        pytest.param(lambda s, tls: replace(s, redis_url=s.redis_url + "?ssl_cert_reqs=none"), id="url"),
        pytest.param(lambda s, tls: replace(s, redis_tls_ca_file=str(tls.ca_file)), id="REDIS_TLS_CA_FILE"),
    ],
)
def test_an_accepted_command_is_applied_and_projected_over_tls(on_tls, tls_redis, db, how):
    settings = how(on_tls, tls_redis)
    # Given the web app and a worker on the commands and projections queues, all over TLS
    broker = build_broker(settings)
    services = build_services(settings, broker, db=db)
    declare(broker, lambda: services)
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        client = testing.TestClient(create_app(settings, build_adapters(settings)))
        assert client.simulate_get("/ready").json == {"status": "ready", "redis": "ok", "mongodb": "ok"}
        # When a product is created
        accepted = client.simulate_post("/products", json=MUG)
        assert accepted.status_code == 202, accepted.text
        command_id, product_id = accepted.json["command_id"], accepted.json["product_id"]
        # I expect the worker to apply it and the projector to show it, read back through Redis
        assert follow(client, command_id)["status"] == "succeeded"
        product = client.simulate_get(
            f"/products/{product_id}", params={"after": command_id}, headers={"Prefer": "wait=10"}
        )
        assert product.status_code == 200 and product.json["sku"] == MUG["sku"]
        assert product.headers["Read-Model-Stale"] == "false"
    finally:
        worker.stop()
        broker.client.close()


def follow(client, command_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.simulate_get(f"/commands/{command_id}").json
        if status["status"] != "accepted":
            return status
        time.sleep(0.05)
    raise AssertionError(f"command {command_id} still accepted after {timeout} s")
