"""Background jobs that run every few seconds inside worker processes: the
outbox sweep (in processes that consume ``commands``) and the read-model
catch-up (in those that consume ``projections``).  Each job takes a Redis
lock per interval, so however many processes run it, one works at a time."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

import redis
from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)


def run_alone(client: redis.Redis, lock_key: str, interval_s: float, job: Callable[[], object]) -> object:
    """``job()`` unless another process ran it less than ``interval_s`` ago
    (then None)."""
    if not client.set(lock_key, uuid.uuid4().hex, nx=True, px=max(1, int(interval_s * 1000))):
        return None
    return job()


class Periodic(Middleware):
    """Calls ``job()`` every ``interval_s`` in a background thread of each
    worker process that consumes ``queue``."""

    def __init__(self, name: str, queue: str, job: Callable[[], object], interval_s: float):
        self._name = name
        self._queue = queue
        self._job = job
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        queues = worker.consumer_whitelist
        if queues and self._queue not in queues:
            return
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._job()
            except Exception:
                log.exception("%s pass failed; the next one will try again", self._name)
