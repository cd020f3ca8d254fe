"""The periodic catch-up: read models heal even when a notification was
lost (Redis lost it, a projector died between reading and writing).

Every ``interval`` one projector process (a Redis lock decides which)
compares stream heads in the event store with their read-model documents,
in every generation being written (the active one and one being rebuilt),
and re-projects those behind, from the event store.  It looks at:

- the streams committed since the last pass (a fast window on integer
  ``recorded_ms``, overlapping the previous one by a minute);
- one more page of a sweep over *every* stream, in ``stream_id`` order,
  which resumes where the last pass stopped and starts over at the end: so
  a commit is found however late it became visible or however wrong the
  clock of the worker that wrote it (the window alone depends on clocks);
- the streams that failed to re-project in an earlier pass, until they
  succeed.

Before that, it lets go of a generation whose rebuild died (its lease
lapsed), so that projectors stop writing to it.

Each pass also measures, from those same facts, how far each read model
lags (``shop_projection_lag_*``): a measure, overwritten every pass, not a
running total that a crash could offset."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable

import redis
from pymongo.database import Database

from infra.eventstore import EventStore, Head
from infra.generations import Generations
from infra.keys import Keys
from infra.mongo import READ_MODELS
from workers.lease import clean_up_lapsed
from workers.periodic import run_alone
from workers.projector import Projector

log = logging.getLogger(__name__)


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
        sweep_page: int = 2000,
        clock: Callable[[], float] = time.time,
    ):
        self._db = db
        self._store = EventStore(db)
        self._generations = Generations(db)
        self._projector = projector
        self._redis = client
        keys = Keys(namespace)
        self._checkpoint_key = keys.catch_up("checkpoint")
        self._sweep_key = keys.catch_up("sweep")
        self._failed_key = keys.catch_up("failed")
        self._lock_key = keys.catch_up("lock")
        self.lag_key = keys.lag
        self.interval_s = interval_s
        self._grace_s = grace_s
        self._overlap_s = overlap_s
        self._horizon_s = horizon_s
        self._sweep_page = sweep_page
        self._clock = clock

    def behind(self, heads: list[Head]) -> list[tuple[Head, int]]:
        """The heads whose document, in any generation being written, is
        behind: ``(head, the lowest version projected)``."""
        by_type: dict[str, dict[str, Head]] = defaultdict(dict)
        for head in heads:
            by_type[head.stream_type][head.stream_id] = head
        found = []
        for stream_type, streams in by_type.items():
            ids = list(streams)
            lowest = {stream_id: streams[stream_id].version for stream_id in ids}
            for collection in self._generations.targets(READ_MODELS[stream_type].name):
                projected = {}
                for start in range(0, len(ids), 1000):  # keep each query far below 16 MB
                    batch = {"_id": {"$in": ids[start : start + 1000]}}
                    docs = collection.find(batch, {"version": 1})
                    projected.update({doc["_id"]: doc["version"] for doc in docs})
                for stream_id in ids:
                    lowest[stream_id] = min(lowest[stream_id], projected.get(stream_id, 0))
            found += [
                (streams[stream_id], version)
                for stream_id, version in lowest.items()
                if version < streams[stream_id].version
            ]
        return found

    def run_once(self) -> list[str]:
        """One pass; the stream ids it healed.  A stream that fails to
        project is logged, remembered and tried again next pass (or, if it
        keeps failing, left to the dead letters); the others go on."""
        # A rebuild that died leaves a generation that projectors would
        # write to for ever: once its lease lapsed, let it go.
        clean_up_lapsed(self._db, self._generations, clock=self._clock)
        now_ms = int(self._clock() * 1000)
        until_ms = now_ms - int(self._grace_s * 1000)
        raw = self._redis.get(self._checkpoint_key)
        # Without a checkpoint (first run, or Redis lost it): the last day;
        # the sweep covers the rest.
        # At most a day back (the sweep covers the rest), so that a long
        # outage or a failing pass never makes the window grow without end.
        oldest_ms = until_ms - int(self._horizon_s * 1000)
        since_ms = max(int(raw), oldest_ms) if raw and raw.isdigit() else oldest_ms
        cursor = (self._redis.get(self._sweep_key) or b"").decode()

        window = self._store.heads(recorded_since_ms=since_ms - int(self._overlap_s * 1000))
        page, next_cursor = self._store.heads_after(cursor, limit=self._sweep_page)
        retry = [self._decode_failed(raw) for raw in self._redis.smembers(self._failed_key)]
        # The window's heads last: they know when each stream last moved.
        heads = {head.stream_id: head for head in [*page, *retry, *window] if head is not None}

        lagging = self.behind(list(heads.values()))
        healed, failed, still = [], [], []
        for head, projected in lagging:
            if until_ms < (head.recorded_ms or 0) <= now_ms:
                # Committed moments ago: its notification is on its way.
                # (A time ahead of ours is a clock ahead: heal it now.)
                still.append((head, projected))
                continue
            try:
                if self._heal(head):
                    healed.append(head.stream_id)
            except Exception:
                log.exception("catch-up could not re-project %s %s", head.stream_type, head.stream_id)
                failed.append(head)
                still.append((head, projected))
        self._record_lag(still, now_ms)
        pipe = self._redis.pipeline()
        pipe.delete(self._failed_key)
        if failed:
            pipe.sadd(self._failed_key, *(self._encode_failed(head) for head in failed))
        pipe.set(self._checkpoint_key, str(until_ms))
        pipe.set(self._sweep_key, next_cursor or "")
        pipe.execute()
        if healed:
            log.warning(
                "catch-up re-projected %d stream(s) whose notifications were lost: %s", len(healed), healed
            )
        return healed

    def try_run(self) -> list[str] | None:
        """Run a pass unless another process ran one this interval."""
        return run_alone(self._redis, self._lock_key, self.interval_s, self.run_once)

    def _heal(self, head: Head) -> bool:
        return self._projector.bring_up_to_date(head.stream_type, head.stream_id, head.version).changed

    def _record_lag(self, lagging: list[tuple[Head, int]], now_ms: int) -> None:
        """Versions committed but not applied, and the age of the oldest
        such commit, per read model, as measured by this pass."""
        lag: dict[str, dict[str, float]] = {
            model.name: {"versions": 0, "seconds": 0.0} for model in READ_MODELS.values()
        }
        for head, projected in lagging[:200]:
            entry = lag[READ_MODELS[head.stream_type].name]
            entry["versions"] += head.version - projected
            first_ms = self._store.first_recorded_ms_after(head.stream_id, projected)
            if first_ms is not None:
                entry["seconds"] = max(entry["seconds"], (now_ms - first_ms) / 1000)
        self._redis.set(self.lag_key, json.dumps({"measured_ms": now_ms, "read_models": lag}))

    @staticmethod
    def _encode_failed(head: Head) -> str:
        return json.dumps([head.stream_type, head.stream_id, head.version])

    @staticmethod
    def _decode_failed(raw: bytes) -> Head | None:
        try:
            stream_type, stream_id, version = json.loads(raw)
            return Head(stream_type, stream_id, int(version))
        except (ValueError, TypeError):
            return None
