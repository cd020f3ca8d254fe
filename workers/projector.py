"""The read side: turn a stream's commits into its read-model document.

A notification says "stream X reached version N" and carries the events of
that commit.  The projector applies whatever the document lacks, in order,
and writes it only if nobody moved it meanwhile (a conditional replace on
``version``), so duplicated, lost-then-redelivered and reordered
notifications all converge on the same document.

This is the only place that folds events into a document: the catch-up,
a dead letter's retry and a rebuild's last pass call
:meth:`Projector.bring_up_to_date`, and a rebuild's replay folds each
stream with :meth:`Projector.replayed`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from domain.projections import View
from domain.streams import STREAM_KINDS
from infra.commits import Commit
from infra.eventstore import EventStore
from infra.generations import Generations
from infra.mapper import Recorded
from infra.messages import carried
from infra.mongo import READ_MODELS
from infra.progress import Progress
from infra.stories import Projected, Stories
from workers.remembered import Remembered


@dataclass(frozen=True)
class Applied:
    version: int
    changed: bool
    updated_at: datetime | None = None
    #: The commits this write applied (for their commands' stories).
    commits: tuple[Projected, ...] = ()


@dataclass(frozen=True)
class Folded:
    """A document after every event it could apply, and the first that
    failed, if any: ``(its version, the error)``."""

    doc: dict[str, Any]
    failure: tuple[int, Exception] | None = None


class ProjectionRace(Exception):
    """The document kept moving under us; let the broker retry later."""


#: stream type -> (read model name, projection), from the two tables of
#: stream kinds (domain/streams.py, infra/mongo.py).
VIEWS: dict[str, tuple[str, View]] = {
    kind: (READ_MODELS[kind].name, STREAM_KINDS[kind].view) for kind in STREAM_KINDS
}


def behind(stream_type: str, stream_id: str, version: int) -> dict[str, Any]:
    """A note for a stream at ``version`` that carries no events
    (``version_from`` -1): the projector reads what it lacks from the store."""
    return {"stream_id": stream_id, "stream_type": stream_type, "version_from": -1, "version_to": version}


#: How many documents a projector remembers as it last wrote them.
REMEMBERED = 2_000


class LastWritten:
    """The documents this process wrote last, by collection and stream (the
    ``remembered`` most recent), so that the next notification of a stream
    folds onto its copy instead of reading it back.  A copy is handed out
    once (``take``): it comes back only with the next successful write, so
    a fold that fails or a write that loses a race leaves nothing stale."""

    def __init__(self, remembered: int):
        self._docs: Remembered[dict[str, Any]] = Remembered(remembered)

    def take(self, collection: str, stream_id: str, version: int) -> dict[str, Any] | None:
        """The copy of the stream's document if it is at ``version``."""
        doc = self._docs.pop((collection, stream_id))
        return doc if doc is not None and doc["version"] == version else None

    def keep(self, collection: str, stream_id: str, doc: dict[str, Any]) -> None:
        self._docs.keep((collection, stream_id), doc)


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
        remembered: int = REMEMBERED,
        stories: Stories | None = None,
    ):
        """``stories``: where each applied commit is told (its command's
        story, infra/stories.py), with the progress."""
        self._store = store
        self._stories = stories
        self._progress = progress
        self._generations = generations or Generations(db)
        self._views = views or VIEWS
        self._max_races = max_races
        self._written = LastWritten(remembered)

    def project(self, note: dict[str, Any]) -> Applied:
        """Bring the stream's document up to at least ``note["version_to"]``,
        in the active generation of its read model and in one being rebuilt.

        On the usual path this is one write (one read and one write when
        another process wrote the version before); a document that missed
        earlier notifications is filled from the event store.
        """
        name, view = self._views[note["stream_type"]]
        active, *building = self._generations.targets(name)
        applied = self.project_into(active, view, note)
        if self._progress is not None:
            self._tell(name, note, applied)
        moved = [self.project_into(collection, view, note).changed for collection in building]
        if any(moved) and not applied.changed:
            return replace(applied, changed=True)
        return applied

    def _tell(self, read_model: str, note: dict[str, Any], applied: Applied) -> None:
        """A moved document's progress, and the stories of the commits it
        applied.  A note whose commit the document held already (another
        delivery wrote it, and died before its acknowledgement told it) is
        told too: the stories keep each step once."""
        stream_id = note["stream_id"]
        if applied.changed:
            commits = applied.commits
        else:
            commits = carried_commit(note) if applied.version >= note["version_to"] else ()
        told = self._stories.projected(read_model, stream_id, commits) if self._stories and commits else []
        if applied.changed:
            self._progress.projected(read_model, stream_id, applied.version, applied.updated_at, told=told)
        elif told:
            self._progress.tell(told, what=f"stories of {stream_id}")

    def bring_up_to_date(
        self, stream_type: str, stream_id: str, version: int, *, into: Collection | None = None
    ) -> Applied:
        """Bring the stream's document from whatever version it holds up to
        at least ``version``, reading what it lacks from the event store:
        in every generation being written, or in ``into`` alone."""
        note = behind(stream_type, stream_id, version)
        if into is None:
            return self.project(note)
        return self.project_into(into, self._views[stream_type][1], note)

    def replayed(self, stream_type: str, commits: Sequence[Commit]) -> Folded:
        """A stream's document folded from nothing over ``commits`` (a
        rebuild's replay, which writes many such documents at once)."""
        _, view = self._views[stream_type]
        return fold(view, None, (r for commit in commits for r in commit.recorded()))

    def project_into(self, collection: Collection, view: View, note: dict[str, Any]) -> Applied:
        stream_id = note["stream_id"]
        # Nothing precedes a stream's first commit: skip the read and let
        # the ``_id`` index say whether the document exists already.  Nor
        # is a read needed when this process wrote the version the note
        # follows: the write is conditional on the document still being
        # there, so a copy another process moved on costs a read after all.
        doc: dict[str, Any] | None = None
        known = note["version_from"] == 1
        if not known and note["version_from"] > 1:
            doc = self._written.take(collection.name, stream_id, note["version_from"] - 1)
            known = doc is not None
        for _ in range(self._max_races):
            if not known:
                doc = collection.find_one({"_id": stream_id})
            known = False
            current = doc["version"] if doc else 0
            if current >= note["version_to"]:
                return Applied(current, changed=False)
            if current == note["version_from"] - 1:
                events: Iterable[Recorded] = carried(note)
                applied = carried_commit(note)
            else:
                commits = self._store.load(stream_id, after_version=current)
                events = (r for commit in commits for r in commit.recorded())
                applied = tuple(Projected(c.command_id, c.origin_id, c.version_to) for c in commits)
            folded = fold(view, doc, events, after=current)
            if folded.failure is not None:
                raise folded.failure[1]
            new = folded.doc
            if new["version"] == current:
                return Applied(current, changed=False)
            if write(collection, stream_id, current, new):
                self._written.keep(collection.name, stream_id, new)
                return Applied(new["version"], changed=True, updated_at=new["updated_at"], commits=applied)
        raise ProjectionRace(f"{stream_id}: document moved {self._max_races} times")


def carried_commit(note: dict[str, Any]) -> tuple[Projected, ...]:
    """The commit a note announces, if it names one (a catch-up's does not)."""
    if note["version_from"] < 1 or not note.get("command_id"):
        return ()
    return (Projected(note["command_id"], note.get("origin_id"), note["version_to"]),)


def fold(view: View, doc: dict[str, Any] | None, events: Iterable[Recorded], *, after: int = 0) -> Folded:
    """``doc`` (None: no document yet) after the ``events`` that follow
    version ``after``, stopping at the first that fails."""
    state = dict(doc) if doc else {"version": 0}
    state.pop("_id", None)
    state.pop("stuck", None)  # a document that moves on is no longer stuck
    for recorded in events:
        if recorded.version <= after:
            continue
        try:
            if recorded.version != state["version"] + 1:
                raise ValueError(f"gap in stream: version {recorded.version} after {state['version']}")
            previous = state if state["version"] else None
            state = view(previous, recorded.event, recorded.version, recorded.recorded_at)
        except Exception as exc:
            return Folded(state, (recorded.version, exc))
    return Folded(state)


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
