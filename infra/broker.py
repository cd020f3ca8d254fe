"""The Dramatiq broker every process builds: Redis, under the service's
namespace."""

from __future__ import annotations

import logging
import uuid

import redis
from dramatiq import Consumer, Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware, default_middleware

from infra.keys import Keys
from infra.redisclient import connect_redis
from infra.settings import Settings
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


class ShopBroker(RedisBroker):
    """Dramatiq's Redis broker, which takes a new identity whenever a call
    to Redis fails for want of a connection.  Dramatiq drops what it held
    in memory then (its delayed messages, a due message it could not
    requeue), while Redis still records those messages as held by this
    live worker, where nothing would ever put them back.

    Its consumers are woken by an enqueue rather than waiting out their
    idle backoff (infra/wakeups.py): a message due now is stored, queued
    and announced on its queue's wake channel in one transaction."""

    def __init__(self, *args, wakeups: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.keys = Keys(self.namespace)
        self.wakeups = Wakeups(self.client, self.keys) if wakeups else None

    def close(self) -> None:
        if self.wakeups is not None:
            self.wakeups.stop()
        super().close()

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if self.wakeups is None or queue_name.endswith(".DQ"):  # a delayed one is due by time
            return super().consume(queue_name, prefetch, timeout)
        return WakingConsumer(self, queue_name, prefetch, timeout, self.wakeups.event(queue_name))

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        if delay is not None:
            return super().enqueue(message, delay=delay)
        # As Dramatiq's enqueue (its ``enqueue`` command stores the message
        # in the queue's hash and pushes its id), with the wake-up beside.
        message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
        queue, message_id = message.queue_name, message.options["redis_message_id"]
        self.emit_before("enqueue", message, delay)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.messages(queue), message_id, message.encode())
        pipe.rpush(self.keys.queue(queue), message_id)
        pipe.publish(self.keys.wake(queue), b"")
        try:
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError):
            new_identity(self, f"Redis unreachable (enqueue on {queue})")
            raise
        self.emit_after("enqueue", message, delay)
        return message

    def _dispatch(self, command):
        dispatch = super()._dispatch(command)

        def guarded(*args):
            try:
                return dispatch(*args)
            except (redis.ConnectionError, redis.TimeoutError):
                new_identity(self, f"Redis unreachable ({command})")
                raise

        return guarded
