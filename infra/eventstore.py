"""The append-only event store: one MongoDB document (a *commit*) per
command, holding every event that command produced.

A single-document insert is atomic on every MongoDB deployment, so a
command's events land all or none without transactions.  Two unique
indexes, both led by ``stream_id`` so they hold on a cluster sharded by it,
give optimistic concurrency and command idempotency.

A commit is also its own outbox: it is written ``dispatched: false``, and
marked ``dispatched`` by the outbox sweep once everything it calls for is
known to have been handed to Redis (follow-up commands, the announcement
to the read side, the command's status).  Whatever fails in between, the
commit itself says what is left to do (see ``workers/outbox.py``).

This module is the only one that names or queries the ``commits``
collection: whoever needs commits or stream heads asks an ``EventStore``.
What it keeps (commits and decisions, and their documents) is
``infra/commits.py``; the events inside a commit are converted to and
from domain events by ``infra/mapper.py`` alone."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from infra.commits import Commit, Decision, decoded, span_attributes, to_ms
from infra.mongo import durable
from infra.tracing import tracer

#: The event store's collection.
COMMITS = "commits"


class ConcurrencyConflict(Exception):
    """Another command appended to the stream since it was loaded."""


class AlreadyCommitted(Exception):
    """The command was decided already (a redelivery, or another delivery
    running at once): ``commit`` is its commit, or the record of a decision
    that changed nothing."""

    def __init__(self, commit: Commit | Decision):
        super().__init__(commit.command_id)
        self.commit = commit


#: Only commits (events), never decision records.
COMMITS_ONLY: dict[str, Any] = {"version_to": {"$exists": True}}

#: Groups commits into each stream's head: its last version, its type and
#: when it last moved.
LAST_VERSIONS: dict[str, Any] = {
    "$group": {
        "_id": "$stream_id",
        "version": {"$max": "$version_to"},
        "type": {"$first": "$stream_type"},
        "recorded_ms": {"$max": "$recorded_ms"},
    }
}


@dataclass(frozen=True)
class Head:
    """A stream's last committed version."""

    stream_type: str
    stream_id: str
    version: int
    #: When its newest commit was recorded, where the query knows it.
    recorded_ms: int | None = field(default=None, compare=False)


def create_indexes(db: Database) -> list[str]:
    """The indexes the event store relies on (safe to run again)."""
    commits = db[COMMITS]
    return [
        # Optimistic concurrency: two writers that loaded the same version
        # cannot both append.
        commits.create_index([("stream_id", ASCENDING), ("version_from", ASCENDING)], unique=True),
        # A redelivered command finds its commit instead of deciding twice.
        commits.create_index([("stream_id", ASCENDING), ("command_id", ASCENDING)], unique=True),
        # The catch-up reads the commits of the last interval (integer
        # milliseconds: date ranges are not exact on every server we run on).
        commits.create_index([("recorded_ms", ASCENDING)]),
        # A rebuild reads every commit in this order.
        commits.create_index([("recorded_at", ASCENDING)]),
        # The outbox sweep: commits not yet marked dispatched, oldest first.
        commits.create_index([("dispatched", ASCENDING), ("recorded_ms", ASCENDING)]),
    ]


@dataclass(frozen=True)
class Undispatched:
    """A commit or decision the outbox sweep has yet to mark, with its
    document's ``_id`` to mark it by."""

    document_id: Any
    decided: Commit | Decision


class EventStore:
    """Commits in the ``commits`` collection: the only way to them."""

    def __init__(self, db: Database):
        self._commits = durable(db, COMMITS)

    def load(self, stream_id: str, after_version: int = 0) -> list[Commit]:
        """The stream's commits after ``after_version``, in order (one round trip)."""
        cursor = self._commits.find(
            {"stream_id": stream_id, "version_to": {"$gt": after_version}},
            sort=[("version_from", ASCENDING)],
        )
        return [Commit.from_document(doc) for doc in cursor]

    def last_version(self, stream_id: str) -> int:
        """The stream's last committed version (0 if it has none)."""
        doc = self._commits.find_one(
            {"stream_id": stream_id, **COMMITS_ONLY}, {"version_to": 1}, sort=[("version_from", DESCENDING)]
        )
        return doc["version_to"] if doc else 0

    def first_recorded_ms_after(self, stream_id: str, version: int) -> int | None:
        """When the stream's first commit after ``version`` was recorded."""
        doc = self._commits.find_one(
            {"stream_id": stream_id, "version_to": {"$gt": version}},
            {"recorded_ms": 1, "recorded_at": 1},
            sort=[("version_from", ASCENDING)],
        )
        if doc is None:
            return None
        return doc.get("recorded_ms") or to_ms(doc["recorded_at"])

    def find_by_command(self, stream_id: str, command_id: str) -> Commit | Decision | None:
        """The command's commit, or the record of its decision without events."""
        doc = self._commits.find_one({"stream_id": stream_id, "command_id": command_id})
        return decoded(doc) if doc else None

    def append(self, commit: Commit | Decision) -> None:
        """Append ``commit``, or record a decision without events (one round trip).

        Raises:
          AlreadyCommitted: this command was decided before.
          ConcurrencyConflict: another commit took ``commit.version_from``.
        """
        with tracer.start_as_current_span(
            f"append {commit.stream_type}",
            attributes=span_attributes(commit),
            record_exception=False,
            set_status_on_exception=False,  # a refused append is an answer, not a fault
        ) as span:
            try:
                self._commits.insert_one(commit.to_document())
            except DuplicateKeyError:
                # Which unique index refused it?  Asking the store is portable;
                # the error's keyPattern is not reported by every server.
                existing = self.find_by_command(commit.stream_id, commit.command_id)
                if existing is not None:
                    span.set_attribute("shop.append.refused", "already decided")
                    raise AlreadyCommitted(existing) from None
                span.set_attribute("shop.append.refused", "version taken")
                raise ConcurrencyConflict(
                    f"{commit.stream_id} already has version {commit.version_from}"
                ) from None

    def import_commits(self, commits: Sequence[Commit]) -> None:
        """Insert commits made elsewhere (a benchmark's or a migration's
        history) in bulk, in order; the unique indexes hold as for
        :meth:`append`, and a duplicate stops the import with an error."""
        documents = [commit.to_document() for commit in commits]
        for start in range(0, len(documents), 5000):
            self._commits.insert_many(documents[start : start + 5000], ordered=True)

    def mark_dispatched(self, found: Sequence[Undispatched]) -> None:
        """Everything each of ``found`` calls for has been handed over (one
        round trip).  Marked by ``_id``, the lookup every server answers
        from its primary key: a ``$or`` of ``(stream_id, version_from)``
        pairs, as good on MongoDB, made the embedded store scan the whole
        collection once per pair, holding its lock for seconds."""
        if found:
            self._commits.update_many(
                {"_id": {"$in": [item.document_id for item in found]}}, {"$set": {"dispatched": True}}
            )

    def undispatched(self, *, recorded_before_ms: int, limit: int = 500) -> list[Undispatched]:
        """Commits and decisions not yet marked dispatched, oldest first.  No lower bound:
        a commit is found however late it became visible or however wrong
        its writer's clock."""
        cursor = self._commits.find(
            {"dispatched": False, "recorded_ms": {"$lt": recorded_before_ms}},
            sort=[("recorded_ms", ASCENDING)],
            limit=limit,
        )
        return [Undispatched(doc["_id"], decoded(doc)) for doc in cursor]

    def heads(
        self,
        *,
        stream_type: str | None = None,
        stream_ids: Sequence[str] | None = None,
        recorded_since_ms: int | None = None,
    ) -> list[Head]:
        """The last version of every stream (of ``stream_type``, among
        ``stream_ids``, with a commit recorded at or after
        ``recorded_since_ms``: each only if given; integer milliseconds are
        exact on every server)."""
        match: dict[str, Any] = {}
        if stream_type is not None:
            match["stream_type"] = stream_type
        if stream_ids is not None:
            match["stream_id"] = {"$in": list(stream_ids)}
        if recorded_since_ms is not None:
            match["recorded_ms"] = {"$gte": recorded_since_ms}
        found = self._commits.aggregate([{"$match": {**match, **COMMITS_ONLY}}, LAST_VERSIONS])
        return [Head(doc["type"], doc["_id"], doc["version"], doc["recorded_ms"]) for doc in found]

    def count(self, stream_type: str) -> tuple[int, int]:
        """``(streams, events)`` of ``stream_type`` (versions run gapless from 1)."""
        totals = {"$group": {"_id": None, "streams": {"$sum": 1}, "events": {"$sum": "$version"}}}
        found = list(
            self._commits.aggregate(
                [{"$match": {"stream_type": stream_type, **COMMITS_ONLY}}, LAST_VERSIONS, totals]
            )
        )
        return (found[0]["streams"], found[0]["events"]) if found else (0, 0)

    def scan(self, stream_type: str, *, batch_size: int = 500) -> Iterator[tuple[str, list[Commit]]]:
        """Every stream of ``stream_type`` with its commits, in stream and
        version order, read ``batch_size`` commits a round trip (a replay)."""
        cursor = self._commits.find(
            {"stream_type": stream_type, **COMMITS_ONLY},
            sort=[("stream_id", ASCENDING), ("version_from", ASCENDING)],
            batch_size=batch_size,
        )
        stream_id, commits = None, []
        for doc in cursor:
            if doc["stream_id"] != stream_id and commits:
                yield stream_id, commits
                commits = []
            stream_id = doc["stream_id"]
            commits.append(Commit.from_document(doc))
        if commits:
            yield stream_id, commits

    def heads_after(self, stream_id: str, *, limit: int = 5000) -> tuple[list[Head], str | None]:
        """A page of stream heads in ``stream_id`` order, starting after
        ``stream_id`` (``""`` for the first page), read along the
        ``(stream_id, version_from)`` index; and where the next page starts
        (None at the end).  A sweep that follows the pages sees every
        stream, whatever the clocks said when it was written."""
        cursor = self._commits.find(
            {"stream_id": {"$gt": stream_id}, **COMMITS_ONLY},
            {"_id": 0, "stream_id": 1, "stream_type": 1, "version_to": 1},
            sort=[("stream_id", ASCENDING), ("version_from", ASCENDING)],
            limit=limit,
        )
        heads: dict[str, Head] = {}
        read = 0
        for doc in cursor:
            read += 1
            head = heads.get(doc["stream_id"])
            if head is None or doc["version_to"] > head.version:
                heads[doc["stream_id"]] = Head(doc["stream_type"], doc["stream_id"], doc["version_to"])
        if read < limit:
            return list(heads.values()), None
        last = next(reversed(heads))
        # The page may have stopped inside the last stream: ask for its
        # head directly rather than trust a partial view of it.
        heads[last] = Head(heads[last].stream_type, last, self.last_version(last))
        return list(heads.values()), last
