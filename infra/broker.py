"""The Dramatiq broker every process builds: Redis, under the service's
namespace."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence

import redis
from dramatiq import Consumer, Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import CurrentMessage, Middleware, default_middleware

from infra.keys import Keys
from infra.redisclient import connect_redis
from infra.settings import Settings
from infra.steps import Step, Steps
from infra.tracing import TraceMessages
from infra.wakeups import Wakeups, WakingConsumer

log = logging.getLogger(__name__)


def build_broker(settings: Settings, **options) -> RedisBroker:
    """The Redis broker, its keys under the service's namespace.

    A worker that stopped sending heartbeats ``settings.heartbeat_timeout_s``
    ago (45 s unless set; Dramatiq's default is 60) is taken for dead and
    its unacknowledged messages are put back: longer than the 20 s a
    stopping worker gives its running messages, and than a typical
    replica-set failover, so a live worker is not taken for dead.

    A Redis that stalls fails a call after 10 s rather than holding a
    request or a worker thread for ever."""
    options.setdefault("middleware", middleware())
    options.setdefault("heartbeat_timeout", int(settings.heartbeat_timeout_s * 1000))
    client = connect_redis(settings, socket_timeout=10, socket_connect_timeout=5)
    return ShopBroker(
        client=client, namespace=settings.redis_namespace, wakeups=settings.consumer_wakeups, **options
    )


def middleware() -> list[Middleware]:
    """Dramatiq's default middleware, after ``TraceMessages`` (first, see
    why there): every message carries the trace context that sent it."""
    return [TraceMessages(), *(m() for m in default_middleware)]


def new_identity(broker: RedisBroker, why: str) -> None:
    """Take a new broker id: the messages Redis records as held by the old
    one belong to a dead worker from now on, and come back after the
    heartbeat timeout (even those this process had in memory and lost)."""
    broker.broker_id = str(uuid.uuid4())
    log.warning("%s: messages this worker held come back after the heartbeat timeout", why)


#: A step (infra/steps.py): store a message in its queue's hash, queue its
#: id, and wake the queue's idle consumers (as Dramatiq's ``enqueue``, with
#: the wake-up beside).
ENQUEUE = """
redis.call('HSET', K[1], A[1], A[2])
redis.call('RPUSH', K[2], A[1])
redis.call('PUBLISH', K[3], '')
"""

#: A step: acknowledge a message, as Dramatiq's ``ack`` does (the worker's
#: heartbeat, then the message leaves the worker's unacknowledged set and
#: its queue's hash).
ACK = """
redis.call('ZADD', K[1], A[1], A[2])
if redis.call('SREM', K[2], A[3]) > 0 then redis.call('HDEL', K[3], A[3]) end
"""


class ShopBroker(RedisBroker):
    """Dramatiq's Redis broker, which takes a new identity whenever a call
    to Redis fails for want of a connection.  Dramatiq drops what it held
    in memory then (its delayed messages, a due message it could not
    requeue), while Redis still records those messages as held by this
    live worker, where nothing would ever put them back.

    Its consumers are woken by an enqueue rather than waiting out their
    idle backoff (infra/wakeups.py): a message due now is stored, queued
    and announced on its queue's wake channel in one step.

    What a message's actor hands over when it succeeds (the messages it
    sends, the records it writes: ``hand_over``) is run with the message's
    acknowledgement, in one atomic round trip: the handover and the ack
    happen together or not at all, and a message whose ack is lost (a
    worker killed, Redis restarting) comes back and hands over again."""

    def __init__(self, *args, wakeups: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.keys = Keys(self.namespace)
        self.steps = Steps(self.client)
        self.wakeups = Wakeups(self.client, self.keys) if wakeups else None
        #: Steps (and the messages they queue) waiting for a message's ack,
        #: by its Redis message id.
        self._with_ack: dict[str, tuple[list[Step], list[Message]]] = {}
        self._with_ack_lock = threading.Lock()

    def close(self) -> None:
        if self.wakeups is not None:
            self.wakeups.stop()
        super().close()

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if self.wakeups is None or queue_name.endswith(".DQ"):  # a delayed one is due by time
            return SettlingConsumer(self, queue_name, prefetch, timeout)
        return WakingSettlingConsumer(self, queue_name, prefetch, timeout, self.wakeups)

    def prepare(self, message: Message) -> tuple[Message, Step]:
        """``message`` with its Redis id, ready to go, and the step that
        queues it: Dramatiq's ``before_enqueue`` hooks have run, and
        ``after_enqueue`` runs once the step has (``enqueued``)."""
        message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
        self.emit_before("enqueue", message, None)
        queue, message_id = message.queue_name, message.options["redis_message_id"]
        step = Step(
            "enqueue",
            ENQUEUE,
            keys=(self.keys.messages(queue), self.keys.queue(queue), self.keys.wake(queue)),
            args=(message_id, message.encode()),
        )
        return message, step

    def enqueued(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.emit_after("enqueue", message, None)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        if delay is not None:
            return super().enqueue(message, delay=delay)
        message, step = self.prepare(message)
        self.run([step], what=f"enqueue on {message.queue_name}")
        self.enqueued([message])
        return message

    def run(self, steps: Sequence[Step], *, what: str) -> list[int]:
        """Run ``steps`` now, in one round trip."""
        try:
            return self.steps.run(steps)
        except (redis.ConnectionError, redis.TimeoutError):
            new_identity(self, f"Redis unreachable ({what})")
            raise

    def hand_over(self, steps: Sequence[Step], messages: Sequence[Message] = (), *, what: str) -> None:
        """Run ``steps`` (which queue ``messages``, prepared) with the
        acknowledgement of the message this thread is processing, if it has
        one; else now."""
        current = CurrentMessage.get_current_message()
        message_id = current.options.get("redis_message_id") if current is not None else None
        if message_id is None:
            self.run(steps, what=what)
            self.enqueued(messages)
            return
        with self._with_ack_lock:
            waiting, queued = self._with_ack.setdefault(message_id, ([], []))
            waiting.extend(steps)
            queued.extend(messages)

    def settle(self, consumer: _RedisConsumer, message: MessageProxy, *, ack: bool) -> bool:
        """Run what waits for ``message``'s settlement: with its ack in one
        round trip (True), or alone before a nack (False: the caller then
        nacks).  Raises ``ConnectionClosed`` when Redis is away (Dramatiq
        tries the settlement again)."""
        message_id = message.options["redis_message_id"]
        with self._with_ack_lock:
            waiting, queued = self._with_ack.pop(message_id, ([], []))
        if not waiting:
            return False
        steps = list(waiting)
        if ack:
            queue = consumer.queue_name
            steps.append(
                Step(
                    "ack",
                    ACK,
                    keys=(
                        self.keys.heartbeats,
                        self.keys.unacked(self.broker_id, queue),
                        self.keys.messages(queue),
                    ),
                    args=(current_millis(), self.broker_id, message_id),
                )
            )
        try:
            self.steps.run(steps)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Dramatiq tries the settlement again: keep what it must run.
            with self._with_ack_lock:
                later, also_queued = self._with_ack.setdefault(message_id, ([], []))
                later[:0] = waiting
                also_queued[:0] = queued
            raise ConnectionClosed(exc) from None
        except redis.RedisError:
            # Refused (read-only, out of memory, busy): Dramatiq would log
            # and go on, leaving the message held by this live worker for
            # good.  As a dead worker's, it comes back after the heartbeat
            # timeout and hands over again.
            new_identity(self, f"Redis refused the settlement of {message_id}")
            raise
        self.enqueued(queued)
        return ack

    def _dispatch(self, command):
        dispatch = super()._dispatch(command)

        def guarded(*args):
            try:
                return dispatch(*args)
            except (redis.ConnectionError, redis.TimeoutError):
                new_identity(self, f"Redis unreachable ({command})")
                raise

        return guarded


class Settling:
    """A consumer whose ack carries what the message's actor handed over
    (``ShopBroker.hand_over``); a nack runs it first, apart."""

    broker: ShopBroker

    def ack(self, message):
        try:
            if self.broker.settle(self, message, ack=True):
                return
        finally:
            self.queued_message_ids.discard(message.message_id)
        super().ack(message)

    def nack(self, message):
        self.broker.settle(self, message, ack=False)
        super().nack(message)


class SettlingConsumer(Settling, _RedisConsumer):
    """Dramatiq's Redis consumer, settling as above."""


class WakingSettlingConsumer(Settling, WakingConsumer):
    """The woken consumer, settling as above."""
