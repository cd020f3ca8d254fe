"""The periodic catch-up: read models heal even when a notification was
lost (Redis lost it, a projector died between reading and writing).

Every ``interval`` one projector process (a Redis lock decides which)
looks at the streams committed since the last pass, compares each one's
last committed version with its read-model document, and re-projects
those behind, from the event store.  Passes overlap by a minute, so a
commit recorded late, or by a clock a little behind, is still seen."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from dramatiq.middleware import Middleware
from pymongo.database import Database

from infra.generations import BY_STREAM_TYPE, Generations
from infra.messages import PROJECTIONS_QUEUE
from infra.mongo import COMMITS
from workers.projector import Projector

log = logging.getLogger(__name__)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class CatchUp:
    def __init__(
        self,
        db: Database,
        projector: Projector,
        client: redis.Redis,
        *,
        namespace: str,
        interval_s: float = 15.0,
        grace_s: float = 10.0,
        overlap_s: float = 60.0,
        horizon_s: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ):
        self._db = db
        self._generations = Generations(db)
        self._projector = projector
        self._redis = client
        self._checkpoint_key = f"{namespace}:catchup:checkpoint"
        self._lock_key = f"{namespace}:catchup:lock"
        self.interval_s = interval_s
        self._grace_s = grace_s
        self._overlap_s = overlap_s
        self._horizon_s = horizon_s
        self._clock = clock

    def behind(self, since: float, until: float) -> list[tuple[str, str, int]]:
        """Streams committed in ``[since - overlap, until]`` whose read model
        is behind: ``(stream_type, stream_id, last committed version)``."""
        recorded = {"$gte": at(since - self._overlap_s), "$lte": at(until)}
        heads = self._db[COMMITS].aggregate(
            [
                {"$match": {"recorded_at": recorded}},
                {
                    "$group": {
                        "_id": "$stream_id",
                        "version": {"$max": "$version_to"},
                        "type": {"$first": "$stream_type"},
                    }
                },
            ]
        )
        by_type: dict[str, dict[str, int]] = defaultdict(dict)
        for head in heads:
            by_type[head["type"]][head["_id"]] = head["version"]
        found = []
        for stream_type, versions in by_type.items():
            collection = self._generations.active(BY_STREAM_TYPE[stream_type])
            ids = list(versions)
            projected = {}
            for start in range(0, len(ids), 1000):  # keep each query far below 16 MB
                batch = {"_id": {"$in": ids[start : start + 1000]}}
                projected.update(
                    {doc["_id"]: doc["version"] for doc in collection.find(batch, {"version": 1})}
                )
            found += [
                (stream_type, stream_id, version)
                for stream_id, version in versions.items()
                if projected.get(stream_id, 0) < version
            ]
        return found

    def run_once(self) -> list[str]:
        """One pass; the stream ids it healed.  A stream that fails to
        project is logged and left to the next pass (or, if it keeps
        failing, to the dead letters); the others go on."""
        until = self._clock() - self._grace_s
        raw = self._redis.get(self._checkpoint_key)
        # Without a checkpoint (first run, or Redis lost it): the last day.
        since = float(raw) if raw else until - self._horizon_s
        healed = []
        for stream_type, stream_id, version in self.behind(since, until):
            # version_from -1: no events carried, so the projector reads the store.
            note = {
                "stream_id": stream_id,
                "stream_type": stream_type,
                "version_from": -1,
                "version_to": version,
            }
            try:
                if self._projector.project(note).changed:
                    healed.append(stream_id)
            except Exception:
                log.exception("catch-up could not re-project %s %s", stream_type, stream_id)
        if healed:
            log.warning(
                "catch-up re-projected %d stream(s) whose notifications were lost: %s", len(healed), healed
            )
        self._redis.set(self._checkpoint_key, repr(until))
        return healed

    def try_run(self) -> list[str] | None:
        """Run a pass unless another process ran one this interval."""
        token = uuid.uuid4().hex
        if not self._redis.set(self._lock_key, token, nx=True, px=int(self.interval_s * 1000)):
            return None
        return self.run_once()


class CatchUpLoop(Middleware):
    """Runs the catch-up in a background thread of each process that
    consumes ``projections``; the lock lets one of them work per interval."""

    def __init__(self, catch_up: Callable[[], CatchUp], interval_s: float):
        self._catch_up = catch_up
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        queues = worker.consumer_whitelist
        if queues and PROJECTIONS_QUEUE not in queues:
            return
        self._thread = threading.Thread(target=self._loop, name="catch-up", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._catch_up().try_run()
            except Exception:
                log.exception("catch-up pass failed; the next one will try again")
