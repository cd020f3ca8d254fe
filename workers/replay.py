"""A replay: every stream of a read model's kind, read from the event store
in batches and folded by the projector, written into a collection of
our choosing with ``bulk_write`` (a rebuild's new generation, or a drift
check's scratch).  ``baseline`` does the same reads and writes without
the folding: the floor a rebuild's speed is measured against."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo import InsertOne, ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from infra.eventstore import EventStore
from infra.mongo import BY_NAME
from workers.projector import Projector

#: The handler a rebuild's dead letters are recorded under.
REBUILD = "rebuild"


@dataclass
class Report:
    name: str
    streams: int = 0
    events: int = 0
    seconds: float = 0.0
    stuck: list[str] = field(default_factory=list)
    #: A rebuild's, from its start to the switch: how long it took as the
    #: queries see it (0 for a replay alone).
    switched_s: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Letters(Protocol):
    """Where a replay records a stream it could not fold (``DeadLetters``)."""

    def record(self, *, handler, stream_id, stream_type, version, message, error) -> str: ...


class Replay:
    """Reads a stream type's commits in batches, stream by stream, and
    writes one document per stream with ``bulk_write``."""

    def __init__(
        self, store: EventStore, projector: Projector, dead_letters: Letters, *, batch_size: int = 500
    ):
        self._store = store
        self._projector = projector
        self._dead_letters = dead_letters
        self.batch_size = batch_size

    def count(self, name: str) -> tuple[int, int]:
        """(streams, events) of read model ``name`` in the store."""
        return self._store.count(BY_NAME[name].stream_type)

    def into(
        self,
        name: str,
        target: Collection,
        on_progress: Callable[[int, int], None] | None = None,
        *,
        guard: Callable[[], None] | None = None,
    ) -> Report:
        """Replay read model ``name`` into ``target``; ``guard`` is called
        before every write, and stops the replay by raising."""
        stream_type = BY_NAME[name].stream_type
        report = Report(name)
        started = time.monotonic()

        def documents() -> Iterator[dict[str, Any]]:
            for stream_id, commits in self._store.scan(stream_type, batch_size=self.batch_size):
                folded = self._projector.replayed(stream_type, commits)
                doc = folded.doc if folded.doc["version"] else None
                events = commits[-1].version_to  # versions run gapless from 1
                report.streams += 1
                report.events += events
                if folded.failure is not None:
                    report.stuck.append(stream_id)
                    letter = self._dead_letters.record(
                        handler=REBUILD,
                        stream_id=stream_id,
                        stream_type=stream_type,
                        version=folded.failure[0],
                        message={"stream_id": stream_id, "stream_type": stream_type},
                        error=folded.failure[1],
                    )
                    if doc is not None:
                        doc["stuck"] = letter
                if doc is not None:
                    yield {"_id": stream_id, "id": stream_id, **doc}
                if on_progress:
                    on_progress(1, events)

        self._write(target, documents(), guard)
        report.seconds = time.monotonic() - started
        return report

    def baseline(self, name: str, scratch: Collection) -> Report:
        """The same reads and writes as :meth:`into`, without folding."""
        report = Report(f"{name} (baseline)")
        started = time.monotonic()

        def documents() -> Iterator[dict[str, Any]]:
            for stream_id, commits in self._store.scan(BY_NAME[name].stream_type, batch_size=self.batch_size):
                events = sum(len(c.events) for c in commits)
                report.streams += 1
                report.events += events
                yield {"_id": stream_id, "id": stream_id, "version": commits[-1].version_to, "events": events}

        self._write(scratch, documents())
        report.seconds = time.monotonic() - started
        return report

    def _write(
        self, target: Collection, docs: Iterator[dict[str, Any]], guard: Callable[[], None] | None = None
    ) -> None:
        """Write ``docs`` ``batch_size`` at a time, calling ``guard`` before each write."""
        batch: list[dict[str, Any]] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= self.batch_size:
                if guard:
                    guard()
                write_batch(target, batch)
                batch = []
        if batch:
            if guard:
                guard()
            write_batch(target, batch)


def write_batch(target: Collection, docs: list[dict[str, Any]]) -> None:
    """Insert the batch; where a projector got there first, replace only a
    document that is behind (every write is conditional on its version)."""
    try:
        target.bulk_write([InsertOne(doc) for doc in docs], ordered=False)
        return
    except BulkWriteError as exc:
        taken = {error["index"] for error in exc.details["writeErrors"] if error["code"] == 11000}
        others = [error for error in exc.details["writeErrors"] if error["code"] != 11000]
        if others:
            raise
    behind = [docs[i] for i in sorted(taken)]
    target.bulk_write(
        [ReplaceOne({"_id": doc["_id"], "version": {"$lt": doc["version"]}}, doc) for doc in behind],
        ordered=False,
    )


def baseline(db: Database, name: str, replay: Replay) -> Report:
    """Time ``replay``'s reads and writes of read model ``name`` without
    folding, into a scratch collection dropped afterwards."""
    scratch = db[f"{name}__baseline_{uuid.uuid4().hex[:8]}"]
    try:
        return replay.baseline(name, scratch)
    finally:
        scratch.drop()
