"""What an actor hands over runs with its message's settlement, on a real
Redis and a real Dramatiq worker: with the ack in one step, or before a
nack; outside an actor, at once."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.middleware import CurrentMessage

from infra.steps import Step

SET = "redis.call('SET', K[1], A[1])"


@pytest.fixture
def running(broker):
    broker.add_middleware(CurrentMessage())
    workers = []

    def start() -> Worker:
        worker = Worker(broker, worker_threads=2, worker_timeout=100)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def test_an_actor_hands_over_with_its_ack(broker, running):
    key = broker.keys.command("handed-over")

    def hands_over() -> None:
        broker.hand_over([Step("set", SET, keys=(key,), args=("done",))], what="a test")
        # Not yet: it waits for the ack
        assert broker.client.get(key) is None

    dramatiq.actor(hands_over, broker=broker, queue_name="handover", max_retries=0)
    message = broker.get_actor("hands_over").send()
    running()
    broker.join("handover", timeout=10_000)
    assert broker.client.get(key) == b"done"
    assert broker.client.zcard(broker.keys.dead("handover")) == 0  # it did not fail
    # acknowledged: gone from the queue's hash and from every worker's set
    assert not broker.client.hexists(broker.keys.messages("handover"), message.options["redis_message_id"])
    assert not [k for k in broker.client.scan_iter(match=broker.keys.acks) if broker.client.scard(k)]
    assert broker._with_ack == {}


def test_a_failed_message_hands_over_before_its_nack(broker, running):
    key = broker.keys.command("handed-over-then-failed")

    def hands_over_and_fails() -> None:
        broker.hand_over([Step("set", SET, keys=(key,), args=("done",))], what="a test")
        raise ValueError("after its handover")

    dramatiq.actor(hands_over_and_fails, broker=broker, queue_name="handover", max_retries=0)
    broker.get_actor("hands_over_and_fails").send()
    running()
    broker.join("handover", timeout=10_000)
    assert broker.client.get(key) == b"done"
    assert broker.client.zcard(broker.keys.dead("handover")) == 1
    assert broker._with_ack == {}


def test_outside_an_actor_a_handover_runs_at_once(broker):
    key = broker.keys.command("at-once")
    broker.hand_over([Step("set", SET, keys=(key,), args=("done",))], what="a test")
    assert broker.client.get(key) == b"done"
