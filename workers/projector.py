"""The read side: turn a stream's commits into its read-model document.

A notification says "stream X reached version N" and carries the events of
that commit.  The projector applies whatever the document lacks, in order,
and writes it only if nobody moved it meanwhile (a conditional replace on
``version``), so duplicated, lost-then-redelivered and reordered
notifications all converge on the same document."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from domain.events import Event, event_from_dict
from domain.projections import order_view, product_view
from infra.eventstore import EventStore
from infra.freshness import Progress
from infra.generations import Generations
from infra.messages import parse_rfc3339
from infra.mongo import ORDERS, PRODUCTS

View = Callable[[dict[str, Any] | None, Event, int, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Applied:
    version: int
    changed: bool
    updated_at: datetime | None = None


class ProjectionRace(Exception):
    """The document kept moving under us; let the broker retry later."""


#: stream type -> (read model name, projection)
VIEWS: dict[str, tuple[str, View]] = {"product": (PRODUCTS, product_view), "order": (ORDERS, order_view)}


class Projector:
    def __init__(
        self,
        store: EventStore,
        db: Database,
        progress: Progress | None = None,
        *,
        generations: Generations | None = None,
        views: dict[str, tuple[str, View]] | None = None,
        max_races: int = 10,
    ):
        self._store = store
        self._progress = progress
        self._generations = generations or Generations(db)
        self._views = views or VIEWS
        self._max_races = max_races

    def project(self, note: dict[str, Any]) -> Applied:
        """Bring the stream's document up to at least ``note["version_to"]``,
        in the active generation of its read model and in one being rebuilt.

        On the usual path this is one read and one write; a document that
        missed earlier notifications is filled from the event store.
        """
        name, view = self._views[note["stream_type"]]
        active, *building = self._generations.targets(name)
        applied = self.project_into(active, view, note)
        if applied.changed and self._progress is not None:
            self._progress.projected(name, note["stream_id"], applied.version, applied.updated_at)
        moved = [self.project_into(collection, view, note).changed for collection in building]
        if any(moved) and not applied.changed:
            return replace(applied, changed=True)
        return applied

    def project_into(self, collection: Collection, view: View, note: dict[str, Any]) -> Applied:
        stream_id = note["stream_id"]
        # Nothing precedes a stream's first commit: skip the read and let
        # the ``_id`` index say whether the document exists already.
        doc: dict[str, Any] | None = None
        known = note["version_from"] == 1
        for _ in range(self._max_races):
            if not known:
                doc = collection.find_one({"_id": stream_id})
            known = False
            current = doc["version"] if doc else 0
            if current >= note["version_to"]:
                return Applied(current, changed=False)
            if current == note["version_from"] - 1:
                events = carried(note)
            else:
                events = (
                    (event_from_dict(e["type"], e["data"]), e["version"], commit.recorded_at)
                    for commit in self._store.load(stream_id, after_version=current)
                    for e in commit.events
                )
            new = fold(view, doc, events, after=current)
            if new["version"] == current:
                return Applied(current, changed=False)
            if write(collection, stream_id, current, new):
                return Applied(new["version"], changed=True, updated_at=new["updated_at"])
        raise ProjectionRace(f"{stream_id}: document moved {self._max_races} times")


def carried(note: dict[str, Any]) -> Iterable[tuple[Event, int, datetime]]:
    recorded_at = parse_rfc3339(note["recorded_at"])
    for e in note["events"]:
        yield event_from_dict(e["type"], e["data"]), e["version"], recorded_at


def fold(
    view: View, doc: dict[str, Any] | None, events: Iterable[tuple[Event, int, datetime]], *, after: int
) -> dict[str, Any]:
    state = dict(doc) if doc else {"version": 0}
    state.pop("_id", None)
    state.pop("stuck", None)  # a document that moves on is no longer stuck
    for event, version, recorded_at in events:
        if version <= after:
            continue
        if version != state["version"] + 1:
            raise ValueError(f"gap in stream: version {version} after {state['version']}")
        state = view(state if state["version"] else None, event, version, recorded_at)
    return state


def write(collection: Collection, stream_id: str, current: int, new: dict[str, Any]) -> bool:
    """Store ``new`` if the document is still at ``current``; False if not."""
    if current == 0:
        try:
            # ``id`` repeats ``_id`` for compound indexes (ties in sorted
            # lists): the embedded store cannot index ``_id`` with others.
            collection.insert_one({"_id": stream_id, "id": stream_id, **new})
        except DuplicateKeyError:
            return False
        return True
    # A whole-document replace, not $set: it keeps dates as dates on every
    # server we run on.
    result = collection.replace_one({"_id": stream_id, "version": current}, {**new, "id": stream_id})
    return result.matched_count == 1
