"""Idempotency-Key claims on the real Redis: racing requests with one key
make one command; retries get the first answer; a lost reply never
makes a false "not queued"."""

import threading

import pytest
import redis as redis_lib

from domain.commands import AdjustStock
from infra.commandbus import CommandBus, IdempotencyRequest, NotQueued
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
    keys = IdempotencyKeys(redis_client, namespace=settings.redis_namespace, clock=clock)
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


class LosesReply:
    """The accept script's call reaches Redis (or not), and its reply is
    lost, as when Redis restarts or a connection drops mid-call."""

    def __init__(self, script, *, reaches: bool):
        self._script = script
        self._reaches = reaches
        self.sent = None

    def __call__(self, **kwargs):
        self.sent = kwargs
        if self._reaches:
            self._script(**kwargs)
        raise redis_lib.ConnectionError("Connection closed by server.")

    def arrives_late(self):
        return self._script(**self.sent)


@pytest.mark.parametrize("key", [None, "key-1"])
def test_a_lost_reply_after_the_command_was_queued_answers_accepted(bus, settings, redis_client, key):
    envelope, response, idem = attempt("cmd-1")
    bus._accept = LosesReply(bus._accept, reaches=True)
    # When the call went through but its reply was lost, I expect the bus to
    # say accepted (so the web answers 202, not a 503 that a client retries)
    accepted = bus.submit(envelope, response, idem if key else None)
    assert accepted.response["command_id"] == "cmd-1" and not accepted.replayed
    assert queued(settings, redis_client) == 1
    assert bus._statuses.get("cmd-1")["status"] == "accepted"


@pytest.mark.parametrize("key", [None, "key-1"])
def test_a_lost_reply_before_the_command_reached_redis_is_not_queued(bus, settings, redis_client, key):
    envelope, response, idem = attempt("cmd-1")
    bus._accept = LosesReply(bus._accept, reaches=False)
    # When the call never reached Redis, I expect "not queued", and true
    with pytest.raises(NotQueued):
        bus.submit(envelope, response, idem if key else None)
    assert queued(settings, redis_client) == 0
    assert bus._statuses.get("cmd-1") is None
    # and a retry with the key queues the command then, once
    if key:
        bus._accept = bus._accept._script
        assert bus.submit(*attempt("cmd-2")).response["command_id"] == "cmd-2"
        assert queued(settings, redis_client) == 1


def test_a_lost_reply_with_redis_still_gone_says_the_outcome_is_unknown(settings, broker, clock):
    from infra.commandbus import OutcomeUnknown
    from infra.embedded import free_port

    gone = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.2)
    statuses = CommandStatuses(gone, namespace=settings.redis_namespace, ttl_s=60)
    keys = IdempotencyKeys(gone, namespace=settings.redis_namespace, clock=clock)
    bus = CommandBus(broker, statuses, keys)
    bus._depth = (0, float("inf"))
    bus._accept = LosesReply(bus._accept, reaches=False)
    with pytest.raises(OutcomeUnknown) as unknown:
        bus.submit(*attempt("cmd-1")[:2])
    assert unknown.value.command_id == "cmd-1"


def test_a_worker_runs_a_command_queued_by_the_accept_script(bus, settings, broker, redis_client):
    from dramatiq import Worker

    # The accept script puts messages where Dramatiq's broker does: a real
    # worker must find, run and acknowledge them
    ran = []
    import dramatiq

    dramatiq.actor(lambda envelope: ran.append(envelope["command_id"]), broker=broker,
                   actor_name="handle_command", queue_name="commands")  # fmt: skip
    bus.submit(*attempt("cmd-1"))
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join("commands", timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    assert ran == ["cmd-1"]
    assert queued(settings, redis_client) == 0


def test_a_claim_left_accepting_by_an_earlier_version_is_finished_by_a_retry(
    bus, settings, redis_client, clock
):
    from infra.idempotency import Claim

    # Given a claim an earlier version of the service left "accepting"
    envelope, response, idem = attempt("cmd-1")
    legacy = Claim(idem.key, idem.fingerprint, "accepting", clock(), response, envelope.to_dict())
    redis_client.set(bus._keys.key(idem.scope, idem.key), legacy.encode())
    # When a retry comes, I expect 409 at first, then the same command queued once
    with pytest.raises(KeyInFlight):
        bus.submit(*attempt("cmd-2"))
    clock.now += STALE_AFTER_S + 1
    assert bus.submit(*attempt("cmd-3")).response["command_id"] == "cmd-1"
    assert queued(settings, redis_client) == 1
    assert bus.submit(*attempt("cmd-4")).response["command_id"] == "cmd-1"
    assert queued(settings, redis_client) == 1


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


@pytest.mark.parametrize("key", [None, "key-1"])
def test_a_call_that_arrives_after_its_not_queued_answer_queues_nothing(bus, settings, redis_client, key):
    envelope, response, idem = attempt("cmd-1")
    late = LosesReply(bus._accept, reaches=False)
    bus._accept = late
    with pytest.raises(NotQueued):
        bus.submit(envelope, response, idem if key else None)
    # When the call that seemed lost reaches Redis after all (a slow link)
    late.arrives_late()
    # I expect the answer to stay true: nothing queued, no status
    assert queued(settings, redis_client) == 0
    assert bus._statuses.get("cmd-1") is None
