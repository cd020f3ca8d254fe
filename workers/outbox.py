"""The outbox sweep: finishes decisions whose follow-ups, announcement or
status were not all handed to Redis (a worker killed after its commit,
Redis down at the wrong moment, messages lost with Redis).

A command's decision in the store (its commit, or the record of a refusal
or of a change that changed nothing) is its own outbox: it is written
``dispatched: false``.  Each pass takes those still unmarked after
``grace_s``, reads their commands' statuses (one Redis round trip per
batch), dispatches again those whose status does not show them done, and
marks the rest dispatched (one store round trip).  ``CommandHandler.dispatch``
writes a status only after what it vouches for was sent, so a status that
says so proves it; if Redis lost those messages, it lost the status with
them (its append-only file keeps writes in order), unless the status is
too young to be safe on disk yet: such a decision is marked on a later
pass.  So the command path pays nothing for the outbox, and dispatching
twice is harmless."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from infra.eventstore import EventStore
from infra.keys import Keys
from infra.messages import rfc3339
from infra.statuses import CommandStatuses
from infra.tracing import resumed
from workers.handler import CommandHandler, settled_status
from workers.periodic import run_alone

log = logging.getLogger(__name__)

#: A status younger than this could still be lost with Redis's last second
#: of writes (``appendfsync everysec``), and what it vouches for with it:
#: such a commit is dispatched again rather than marked.
FSYNC_WINDOW_S = 2.0


class Outbox:
    def __init__(
        self,
        store: EventStore,
        handler: CommandHandler,
        statuses: CommandStatuses,
        client: redis.Redis,
        *,
        namespace: str,
        interval_s: float = 5.0,
        grace_s: float = 5.0,
        batch: int = 500,
        clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self._handler = handler
        self._statuses = statuses
        self._redis = client
        self._lock_key = Keys(namespace).outbox_lock
        self.interval_s = interval_s
        self._grace_s = grace_s
        self._batch = batch
        self._clock = clock

    def sweep(self) -> int:
        """Mark every commit older than ``grace_s`` dispatched, dispatching
        again those not known done; how many it dispatched again.  Stops at the first fault (Redis or the
        store down): the next pass starts again from the oldest."""
        done = 0
        for _ in range(100):  # bounded: a pass never runs away
            before_ms = int((self._clock() - self._grace_s) * 1000)
            batch = self._store.undispatched(recorded_before_ms=before_ms, limit=self._batch)
            known = self._statuses.many([found.decided.command_id for found in batch])
            settled_before = rfc3339(datetime.fromtimestamp(self._clock() - FSYNC_WINDOW_S, UTC))
            trusted = []
            for found in batch:
                decided = found.decided
                status = known.get(decided.command_id)
                if (
                    status is not None
                    and (status["status"], status["version"]) == settled_status(decided)
                    and (status["completed_at"] or "") < settled_before
                ):
                    trusted.append(found)
                    continue
                # Not known done: dispatch it again, and mark it on a later
                # pass, once its status is old enough to be trusted.
                try:
                    # In the trace of the delivery that decided, if it was traced.
                    with resumed(decided.trace_context, "outbox redispatch"):
                        self._handler.dispatch(decided)
                except redis.RedisError:
                    raise  # Redis is down: the next pass starts again
                except Exception:
                    log.exception("could not dispatch %s of %s", type(decided).__name__, decided.command_id)
                done += 1
            self._store.mark_dispatched(trusted)
            if len(batch) < self._batch or not trusted:
                break
        if done:
            log.warning("outbox sweep dispatched %d decision(s) left undispatched", done)
        return done

    def try_sweep(self) -> int | None:
        """Sweep unless another process swept this interval."""
        return run_alone(self._redis, self._lock_key, self.interval_s, self.sweep)
