"""Idempotency-Key claims on the real Redis: racing requests with one key
make one command; retries get the first answer; a request that died
between claiming and queueing is finished by its retry."""

import threading

import pytest
import redis as redis_lib

from domain.commands import AdjustStock
from infra.commandbus import CommandBus, IdempotencyRequest
from infra.idempotency import STALE_AFTER_S, IdempotencyKeys, KeyInFlight, KeyReused, fingerprint
from infra.messages import CommandEnvelope
from infra.statuses import CommandStatuses

PRODUCT = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def bus(settings, broker, redis_client, clock):
    statuses = CommandStatuses(redis_client, namespace=settings.redis_namespace, ttl_s=60)
    keys = IdempotencyKeys(redis_client, namespace=settings.redis_namespace, status_ttl_s=60, clock=clock)
    return CommandBus(broker, statuses, keys)


def attempt(command_id, delta=1, key="key-1"):
    envelope = CommandEnvelope.wrap(AdjustStock(product_id=PRODUCT, delta=delta), command_id=command_id)
    response = {"command_id": command_id, "status": "accepted", "product_id": PRODUCT}
    path = f"/products/{PRODUCT}/stock-adjustments"
    return (
        envelope,
        response,
        IdempotencyRequest("anonymous", key, fingerprint("POST", path, {"delta": delta})),
    )


def queued(settings, redis_client):
    return redis_client.llen(f"{settings.redis_namespace}:commands")


def test_racing_requests_with_one_key_make_one_command(bus, settings, redis_client):
    # Given 8 requests with the same key and body, released together
    barrier = threading.Barrier(8)
    results, errors = [], []

    def run(i):
        envelope, response, idem = attempt(f"cmd-{i}")
        barrier.wait()
        try:
            results.append(bus.submit(envelope, response, idem))
        except KeyInFlight:
            errors.append("in flight")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # I expect exactly one command queued; every other answer is that one's or a 409
    assert queued(settings, redis_client) == 1
    first = [r for r in results if not r.replayed]
    assert len(first) == 1
    assert {r.response["command_id"] for r in results} == {first[0].response["command_id"]}
    assert len(results) + len(errors) == 8


def test_a_retry_gets_the_first_answer_and_queues_nothing(bus, settings, redis_client):
    first = bus.submit(*attempt("cmd-1"))
    again = bus.submit(*attempt("cmd-2"))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.response == first.response
    assert queued(settings, redis_client) == 1
    # the second request's command was never recorded
    assert bus._statuses.get("cmd-2") is None
    assert bus._statuses.get("cmd-1")["status"] == "accepted"


def test_the_same_key_with_another_body_is_refused(bus, settings, redis_client):
    bus.submit(*attempt("cmd-1", delta=1))
    with pytest.raises(KeyReused):
        bus.submit(*attempt("cmd-2", delta=2))
    assert queued(settings, redis_client) == 1


def test_keys_are_separate_per_scope(bus, settings, redis_client):
    envelope, response, idem = attempt("cmd-1")
    bus.submit(envelope, response, idem)
    envelope, response, idem = attempt("cmd-2")
    other = IdempotencyRequest("someone-else", idem.key, idem.fingerprint)
    assert not bus.submit(envelope, response, other).replayed
    assert queued(settings, redis_client) == 2


def test_a_request_that_died_after_claiming_is_finished_by_its_retry(bus, settings, redis_client, clock):
    # Given a request that claimed its key, then died before queueing
    envelope, response, idem = attempt("cmd-1")
    bus._keys.claim(
        idem.scope, idem.key, idem.fingerprint, envelope, response, bus._statuses.key("cmd-1"), '{"x": 1}'
    )
    # When its retry comes at once, I expect 409; nothing queued yet
    with pytest.raises(KeyInFlight):
        bus.submit(*attempt("cmd-2"))
    assert queued(settings, redis_client) == 0
    # When it comes after the claim went stale
    clock.now += STALE_AFTER_S + 1
    retried = bus.submit(*attempt("cmd-3"))
    # I expect the first command queued, under its own id, once
    assert retried.replayed and retried.response["command_id"] == "cmd-1"
    assert queued(settings, redis_client) == 1
    assert bus.submit(*attempt("cmd-4")).response["command_id"] == "cmd-1"
    assert queued(settings, redis_client) == 1


def test_a_failed_enqueue_keeps_the_key_for_the_same_command(settings, broker, redis_client, clock):
    # Given an enqueue that fails (it may or may not have reached Redis)
    class DownOnce:
        calls = 0
        client, namespace = broker.client, broker.namespace  # for the queue-depth check

        def enqueue(self, message):
            DownOnce.calls += 1
            if DownOnce.calls == 1:
                raise redis_lib.ConnectionError("reply lost")
            return broker.enqueue(message)

    statuses = CommandStatuses(redis_client, namespace=settings.redis_namespace, ttl_s=60)
    keys = IdempotencyKeys(redis_client, namespace=settings.redis_namespace, status_ttl_s=60, clock=clock)
    bus = CommandBus(DownOnce(), statuses, keys)
    with pytest.raises(redis_lib.ConnectionError):
        bus.submit(*attempt("cmd-1"))
    # When the client retries with the key, I expect 409 at first, then the
    # same command queued: never a second one
    with pytest.raises(KeyInFlight):
        bus.submit(*attempt("cmd-2"))
    clock.now += STALE_AFTER_S + 1
    retried = bus.submit(*attempt("cmd-3"))
    assert retried.response["command_id"] == "cmd-1"
    assert queued(settings, redis_client) == 1
    assert statuses.get("cmd-2") is None and statuses.get("cmd-3") is None


def test_a_settled_claim_is_never_taken_over(bus, settings, redis_client, clock):
    first = bus.submit(*attempt("cmd-1"))
    envelope, response, idem = attempt("cmd-1")
    [key] = redis_client.scan_iter(match=f"{settings.redis_namespace}:idempotency:*")
    from infra.idempotency import Claim

    settled = Claim.decode(redis_client.get(key))
    clock.now += STALE_AFTER_S + 1
    assert bus._keys.take_over(idem.scope, settled) is None
    assert bus.submit(*attempt("cmd-2")).response == first.response
    assert queued(settings, redis_client) == 1


def test_claims_expire_after_a_day(bus, redis_client, settings):
    bus.submit(*attempt("cmd-1"))
    [key] = redis_client.scan_iter(match=f"{settings.redis_namespace}:idempotency:*")
    assert 24 * 3600 - 10 < redis_client.ttl(key) <= 24 * 3600
