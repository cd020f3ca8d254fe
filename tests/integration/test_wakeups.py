"""An idle consumer is woken by the enqueue, not by its next poll.

Each consumer here has been idle long enough for Dramatiq's backoff to
reach its ceiling (10 s, so that its sleep would be at least 5 s): it must
come back within a second of a message being enqueued, whichever way the
message was sent."""

import threading
import time

from domain.commands import AdjustStock
from infra.broker import build_broker
from infra.commandbus import CommandBus
from infra.idempotency import IdempotencyKeys
from infra.messages import COMMANDS_QUEUE, PROJECTIONS_QUEUE, CommandEnvelope, command_message
from infra.statuses import CommandStatuses
from infra.wakeups import WakingConsumer

IDLE_CEILING_MS = 10_000


def long_idle(broker, queue, ceiling_ms=IDLE_CEILING_MS):
    consumer = broker.consume(queue, prefetch=1, timeout=ceiling_ms)
    assert isinstance(consumer, WakingConsumer)
    assert broker.wakeups.listening.wait(5)
    next(consumer)  # the wake-up every (re)subscription gives
    consumer.misses = 30  # as after a long idle spell: its backoff is at the ceiling
    return consumer


def returns_within(consumer, send, seconds):
    """Whether ``next(consumer)``, waiting idle, returns within ``seconds``
    of ``send()``; and what the consumer yields next."""
    returned = threading.Event()
    waiting = threading.Thread(target=lambda: (next(consumer), returned.set()), daemon=True)
    waiting.start()
    time.sleep(0.5)  # the consumer found nothing and waits
    assert not returned.is_set()
    send()
    woke = returned.wait(seconds)
    waiting.join(consumer.timeout / 1000 + 1)
    return woke, next(consumer)


def test_a_message_sent_through_the_broker_wakes_an_idle_consumer(broker):
    consumer = long_idle(broker, PROJECTIONS_QUEUE)
    message = command_message(CommandEnvelope.wrap(AdjustStock("p-1", 1), command_id="c-1")).copy(
        queue_name=PROJECTIONS_QUEUE
    )
    woke, got = returns_within(consumer, lambda: broker.enqueue(message), 1.0)
    assert woke
    assert got is not None and got.message_id == message.message_id
    consumer.ack(got)
    consumer.close()


def test_a_command_accepted_by_the_web_wakes_an_idle_worker(settings, broker, redis_client):
    statuses = CommandStatuses(redis_client, namespace=settings.redis_namespace, ttl_s=60)
    bus = CommandBus(broker, statuses, IdempotencyKeys(redis_client, namespace=settings.redis_namespace))
    consumer = long_idle(broker, COMMANDS_QUEUE)
    envelope = CommandEnvelope.wrap(AdjustStock("p-1", 1), command_id="c-accepted")
    woke, got = returns_within(consumer, lambda: bus.submit(envelope, {"status": "accepted"}), 1.0)
    assert woke
    assert got is not None and got.args[0]["command_id"] == "c-accepted"
    consumer.ack(got)
    consumer.close()


def test_a_delayed_message_does_not_wake_anyone_before_it_is_due(broker):
    consumer = long_idle(broker, COMMANDS_QUEUE, ceiling_ms=3_000)  # sleeps of 1.5 s at least
    message = command_message(CommandEnvelope.wrap(AdjustStock("p-1", 1), command_id="c-later"))
    woke, _ = returns_within(consumer, lambda: broker.enqueue(message, delay=60_000), 1.0)
    assert not woke
    consumer.close()


def test_closing_the_broker_ends_its_subscription(settings):
    # Given a broker whose consumer started the wake-up listener
    broker = build_broker(settings)
    consumer = broker.consume(COMMANDS_QUEUE, prefetch=1, timeout=1_000)
    assert broker.wakeups.listening.wait(5)
    [listener] = [t for t in threading.enumerate() if t is broker.wakeups._thread]
    # When the broker closes
    consumer.close()
    broker.close()
    # I expect the listener gone within its one-second poll
    listener.join(3)
    assert not listener.is_alive()
