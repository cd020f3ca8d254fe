"""Delivery that survives Redis restarts and dead workers.

Dramatiq's Redis broker is at-least-once, with two gaps this module closes:

- Its ``Retries`` schedules a retry by enqueueing to Redis; when Redis is
  down that enqueue fails, is logged, and the worker then acknowledges the
  message once Redis is back: no copy is left.  ``PatientRetries`` waits
  for Redis instead, so a message is never acknowledged while its retry
  could not be scheduled.  (If the worker dies while waiting, the message
  is still unacknowledged and comes back like any other.)
- It puts back a dead worker's unacknowledged messages only during its
  "maintenance", which runs on about one broker call in a thousand per
  queue: minutes when the service is quiet.  ``Redelivery`` runs that
  maintenance on every queue of the service, every few seconds, so a
  crashed worker's messages come back within the heartbeat timeout plus
  ``interval_s``, whatever the traffic.  The same call keeps this worker's
  own heartbeat fresh while all its threads are busy with long messages.
- A Redis that restarts from its append-only file may come back without
  its last second of writes, acknowledgements included, but with the
  messages this worker had taken: they sit in this live worker's
  "unacknowledged" set, which nothing ever puts back while it lives.  And
  when a call to Redis fails, Dramatiq drops the delayed messages it held
  in memory, which Redis also records as held.  In both cases the worker
  takes a new identity (``ShopBroker`` on a failed call, ``Redelivery``
  when Redis's ``run_id`` changes), so that its old sets belong to a dead
  worker and come back after the heartbeat timeout.  A message finished
  meanwhile may run twice: every handler is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from dramatiq import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name
from dramatiq.middleware import Middleware, Retries, TimeLimit

from infra.broker import new_identity

log = logging.getLogger(__name__)


def patiently(call: Callable[[], Any], *, what: str, stop: threading.Event | None = None) -> Any:
    """``call()``, again and again while Redis is unreachable (backing off
    up to 5 s), until it succeeds or ``stop`` is set (then it raises)."""
    delay = 0.1
    while True:
        try:
            return call()
        except redis.RedisError as error:
            if stop is not None and stop.is_set():
                raise
            log.warning("Redis unreachable while %s (%s); trying again in %.1f s", what, error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class _WaitForRedis:
    """A broker whose ``enqueue`` waits for Redis instead of failing."""

    def __init__(self, broker: Broker):
        self._broker = broker

    def enqueue(self, message, *, delay=None):
        return patiently(
            lambda: self._broker.enqueue(message, delay=delay), what=f"scheduling a retry of {message}"
        )

    def __getattr__(self, name):
        return getattr(self._broker, name)


class PatientRetries(Retries):
    """``Retries`` whose re-enqueue waits for Redis to come back."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None:
            # The message's time limit is still armed here (Dramatiq removes
            # it in a later hook): a wait for Redis must not be cut short by
            # it, or the message would be acknowledged with no retry queued.
            disarm_time_limit(broker)
        super().after_process_message(_WaitForRedis(broker), message, result=result, exception=exception)


def disarm_time_limit(broker: Broker) -> None:
    """End the current thread's message time limit early."""
    for middleware in broker.middleware:
        if isinstance(middleware, TimeLimit):
            middleware.manager.remove_timeout(threading.get_ident())


def use_patient_retries(broker: Broker) -> None:
    """Replace the broker's ``Retries`` by ``PatientRetries``, in place
    (so that the middleware declared around it keeps its order)."""
    for i, middleware in enumerate(broker.middleware):
        if type(middleware) is Retries:
            broker.middleware[i] = PatientRetries(
                max_retries=middleware.max_retries,
                min_backoff=middleware.min_backoff,
                max_backoff=middleware.max_backoff,
                retry_when=middleware.retry_when,
            )


class Redelivery(Middleware):
    """Puts back dead workers' messages every ``interval_s``, on each queue
    (and delay queue) the service declares."""

    def __init__(self, interval_s: float = 5.0):
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        if not isinstance(broker, RedisBroker):
            return
        try:
            self._run_id = broker.client.info("server").get("run_id")
        except redis.RedisError:
            self._run_id = None
        # Every queue the service declares, not only those this worker
        # consumes: a dead command worker's messages are put back by a live
        # projector as well, whichever process type is still running.
        names = sorted({name for queue in broker.get_declared_queues() for name in (queue, dq_name(queue))})
        self._thread = threading.Thread(
            target=self._loop, args=(broker, names), name="redelivery", daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()

    def _loop(self, broker: RedisBroker, queues: list[str]) -> None:
        run_id = self._run_id
        while not self._stop.wait(self.interval_s):
            try:
                now = broker.client.info("server").get("run_id")
                if run_id is not None and now != run_id:
                    new_identity(broker, "Redis restarted")
                run_id = now
                redeliver(broker, queues)
            except redis.RedisError as error:
                log.warning("could not look for dead workers' messages: %s", error)
            except Exception:
                log.exception("looking for dead workers' messages failed")


def redeliver(broker: RedisBroker, queues: list[str]) -> None:
    """Run the broker's maintenance on ``queues`` now: the unacknowledged
    messages of every worker whose heartbeat is older than the broker's
    timeout go back to their queues.  Also refreshes our own heartbeat."""
    dispatch = broker.scripts["dispatch"]
    for queue in queues:
        # The arguments of Dramatiq's own dispatch script (redis/dispatch.lua),
        # asking for a queue size with maintenance forced on.
        dispatch(
            keys=[broker.namespace],
            args=[
                "qsize", current_millis(), queue, broker.broker_id, broker.heartbeat_timeout,
                broker.dead_message_ttl, 1, broker._max_unpack_size(),
            ],
        )  # fmt: skip
