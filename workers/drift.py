"""The drift check (``python -m workers.rebuild --check``): replay a read
model into a scratch collection and compare it with the live one, stream
by stream, leaving out streams held up by a dead letter."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pymongo.collection import Collection
from pymongo.database import Database

from infra.eventstore import EventStore
from infra.generations import Generations
from infra.mongo import BY_NAME
from workers.projector import Projector
from workers.replay import Replay


@dataclass(frozen=True)
class Difference:
    stream_id: str
    field: str
    live: Any
    replayed: Any


class NoteOnly:
    """Dead letters for a check: noted, never stored, nothing marked stuck."""

    def __init__(self):
        self.streams: list[str] = []

    def record(self, *, stream_id, **_) -> str:
        self.streams.append(stream_id)
        return "check"


class StuckStreams(Protocol):
    """What the check needs of the dead letters (``DeadLetters``)."""

    def stuck_streams(self) -> set[str]: ...


def check(
    db: Database,
    name: str,
    projector: Projector,
    generations: Generations,
    dead_letters: StuckStreams,
    *,
    second_look_s: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Difference]:
    """Replay ``name`` into a scratch collection and compare it with the live
    read model, stream by stream (streams with dead letters left out).

    A stream that differs is looked at again after ``second_look_s``, both
    sides brought to the store's head, so that a commit still on its way
    is not taken for drift while a document left behind still is.

    Raises:
      RuntimeError: a rebuild of ``name`` is under way.
    """
    if generations.pointer(name, fresh=True)["building"]:
        raise RuntimeError(f"{name} is being rebuilt; check it afterwards")
    scratch = db[f"{name}__check_{uuid.uuid4().hex[:8]}"]
    store = EventStore(db)
    try:
        noted = NoteOnly()
        Replay(store, projector, noted).into(name, scratch)
        skip = dead_letters.stuck_streams() | set(noted.streams)
        suspects = {d.stream_id for d in compare(generations.active(name), scratch, skip)}
        if not suspects:
            return []
        sleep(second_look_s)
        for head in store.heads(stream_ids=sorted(suspects)):
            projector.bring_up_to_date(BY_NAME[name].stream_type, head.stream_id, head.version, into=scratch)
        return compare(generations.active(name), scratch, skip, only=suspects)
    finally:
        scratch.drop()


def compare(
    live: Collection, scratch: Collection, skip: set[str], only: set[str] | None = None
) -> list[Difference]:
    """Every field that differs between the two collections' documents."""
    query = {"_id": {"$in": sorted(only)}} if only is not None else {}
    replayed = {doc["_id"]: doc for doc in scratch.find(query)}
    differences: list[Difference] = []
    for doc in live.find(query):
        stream_id = doc["_id"]
        fresh = replayed.pop(stream_id, None)
        if stream_id in skip or doc.get("stuck"):
            continue
        if fresh is None:
            differences.append(Difference(stream_id, "(document)", "present", "absent"))
            continue
        for key in sorted(set(doc) | set(fresh)):
            if key in ("_id", "stuck") or doc.get(key) == fresh.get(key):
                continue
            differences.append(Difference(stream_id, key, doc.get(key), fresh.get(key)))
    differences += [
        Difference(stream_id, "(document)", "absent", "present")
        for stream_id in replayed
        if stream_id not in skip
    ]
    return differences
