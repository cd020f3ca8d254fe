"""The outbox sweep: finishes commits whose follow-ups, announcement or
status were not all handed to Redis (a worker killed after its commit,
Redis down at the wrong moment, messages lost with Redis).

The commit is the outbox: it is written ``dispatched: false``.  Each pass
takes the commits still unmarked after ``grace_s``, reads their commands'
statuses (one Redis round trip per batch), dispatches again those whose
status is not ``succeeded`` at the commit's version, and marks the batch
dispatched (one store round trip).  ``CommandHandler.dispatch`` writes that
status only after the follow-ups and the announcement, so a status that
says so proves they were sent; if Redis lost them, it lost the status
with them (its append-only file keeps writes in order), unless the status
is too young to be safe on disk yet.  So the command
path pays nothing for the outbox, and dispatching twice is harmless."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from infra.eventstore import EventStore
from infra.messages import rfc3339
from infra.statuses import SUCCEEDED, CommandStatuses
from workers.handler import CommandHandler
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
        self._lock_key = f"{namespace}:outbox:lock"
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
            commits = self._store.undispatched(recorded_before_ms=before_ms, limit=self._batch)
            known = self._statuses.many([commit.command_id for commit in commits])
            settled_before = rfc3339(datetime.fromtimestamp(self._clock() - FSYNC_WINDOW_S, UTC))
            for commit in commits:
                status = known.get(commit.command_id)
                if not (
                    status is not None
                    and (status["status"], status["version"]) == (SUCCEEDED, commit.version_to)
                    and (status["completed_at"] or "") < settled_before
                ):
                    self._handler.dispatch(commit)
                    done += 1
            self._store.mark_dispatched(commits)
            if len(commits) < self._batch:
                break
        if done:
            log.warning("outbox sweep dispatched %d commit(s) left undispatched", done)
        return done

    def try_sweep(self) -> int | None:
        """Sweep unless another process swept this interval."""
        return run_alone(self._redis, self._lock_key, self.interval_s, self.sweep)
