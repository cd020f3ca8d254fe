"""Idle consumers woken by the enqueue instead of their next poll.

Dramatiq's Redis consumer, finding its queue empty, sleeps with an
exponential backoff up to the worker timeout (1 s by default) before it
fetches again, so a message sent to an idle worker waits for the end of
that sleep.  Here every enqueue also publishes on its queue's wake channel
(in the same round trip), one listener thread per process subscribes to
the channels of the queues it consumes, and an idle consumer waits on an
event the listener sets instead of sleeping.

Only *when* a consumer fetches changes: the fetch, the acks and the
redelivery of a dead worker's messages are Dramatiq's own.  A wake that is
lost (the listener reconnecting, Redis restarting) costs what it cost
before: the consumer fetches at the end of its backoff."""

from __future__ import annotations

import logging
import threading
import time

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

from infra.keys import Keys

log = logging.getLogger(__name__)


class Wakeups:
    """One process's subscription to the wake channels of the queues it
    consumes, started with the first consumer (after any fork)."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self._client = client
        self._keys = keys
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._changed = threading.Event()
        #: Set while subscribed to every queue's channel asked for so far.
        self.listening = threading.Event()
        self._stopped = threading.Event()

    def event(self, queue: str) -> threading.Event:
        """The event set whenever a message is enqueued on ``queue``."""
        with self._lock:
            if queue not in self._events:
                self._events[queue] = threading.Event()
                self.listening.clear()
                self._changed.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="shop-wakeups", daemon=True)
                self._thread.start()
            return self._events[queue]

    def stop(self) -> None:
        """End the subscription (within a second): the broker is closing."""
        self._stopped.set()
        for event in list(self._events.values()):
            event.set()

    def _listen(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                self._subscribed()
                failures = 0
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                failures, backoff_ms = compute_backoff(failures, factor=100, max_backoff=5_000, jitter=False)
                log.debug("wake-ups paused (%s); consumers poll meanwhile", exc)
                self._stopped.wait(backoff_ms / 1000)
            except Exception:  # never let the thread die: consumers would only poll
                log.exception("wake-ups listener failed; restarting it")
                self._stopped.wait(1)

    def _subscribed(self) -> None:
        pubsub = self._client.pubsub()
        try:
            by_channel: dict[bytes, threading.Event] = {}
            confirmed: set[bytes] = set()
            while not self._stopped.is_set():
                if self._changed.is_set() or not by_channel:
                    self._changed.clear()
                    with self._lock:
                        wanted = {self._keys.wake(q).encode(): e for q, e in self._events.items()}
                    new = [channel for channel in wanted if channel not in by_channel]
                    by_channel = wanted
                    if new:
                        self.listening.clear()
                        pubsub.subscribe(*new)
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    # Redis confirms a subscription: ours, or the one the
                    # client renews by itself after a reconnection.  What
                    # was enqueued while it was not in place is waiting.
                    confirmed.add(message["channel"])
                    for event in by_channel.values():
                        event.set()
                    if confirmed >= by_channel.keys():
                        self.listening.set()
                elif message["type"] == "message":
                    event = by_channel.get(message["channel"])
                    if event is not None:
                        event.set()
        finally:
            self.listening.clear()
            pubsub.close()


class WakingConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, waiting on its queue's wake event where
    Dramatiq's sleeps.

    A fetch that returns fewer messages than it asked for has emptied the
    queue: while the listener is subscribed, nothing new can arrive without
    setting the event, so the consumer waits for it (up to the worker
    timeout) instead of fetching again and again with Dramatiq's growing
    backoff.  Without a listener it polls as Dramatiq does."""

    def __init__(self, broker, queue_name: str, prefetch: int, timeout: int, wakeups: Wakeups):
        super().__init__(broker, queue_name, prefetch, timeout)
        self._wakeups = wakeups
        self._wake = wakeups.event(queue_name)
        self._drained = False

    def __next__(self):
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # as Dramatiq's consumer: skip a message gone from its hash
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                listening = self._wakeups.listening.is_set()
                if self._wake.is_set() or not (self._drained and listening):
                    if self.outstanding_message_count >= self.prefetch:
                        # Every prefetched message is still at work: look
                        # again after Dramatiq's backoff.
                        self._drained = False
                        self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                        time.sleep(backoff_ms / 1000)
                        return None
                    # Cleared before the fetch: a message enqueued after it
                    # sets the event again, and the wait below returns at once.
                    self._wake.clear()
                    asked = self.prefetch - self.outstanding_message_count
                    self.message_cache = self.broker.do_fetch(self.queue_name, asked)
                    self._drained = len(self.message_cache) < asked
                    if self.message_cache:
                        continue
                if self._drained and listening:
                    # Until an enqueue wakes it, or the timeout, when a fetch
                    # also keeps this worker's heartbeat going.
                    self._wake.wait(self.timeout / 1000)
                    self._drained = False
                    return None
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                self._wake.wait(backoff_ms / 1000)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
