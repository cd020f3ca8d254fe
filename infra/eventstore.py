"""The append-only event store: one MongoDB document (a *commit*) per
command, holding every event that command produced.

A single-document insert is atomic on every MongoDB deployment, so a
command's events land all or none without transactions.  Two unique
indexes, both led by ``stream_id`` so they hold on a cluster sharded by it,
give optimistic concurrency and command idempotency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from domain.events import Event, event_from_dict
from infra.mongo import COMMITS


class ConcurrencyConflict(Exception):
    """Another command appended to the stream since it was loaded."""


class AlreadyCommitted(Exception):
    """The command has a commit already (a redelivery)."""

    def __init__(self, commit: Commit):
        super().__init__(commit.command_id)
        self.commit = commit


@dataclass(frozen=True)
class Commit:
    stream_id: str
    stream_type: str
    version_from: int
    version_to: int
    events: list[dict[str, Any]]  # [{type, version, data}]
    command_id: str
    correlation_id: str
    causation_id: str | None
    recorded_at: datetime = field(default_factory=lambda: now())

    def domain_events(self) -> list[Event]:
        return [event_from_dict(e["type"], e["data"]) for e in self.events]

    def to_document(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "stream_type": self.stream_type,
            "version_from": self.version_from,
            "version_to": self.version_to,
            "events": self.events,
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "recorded_at": self.recorded_at,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Commit:
        return cls(
            stream_id=doc["stream_id"],
            stream_type=doc["stream_type"],
            version_from=doc["version_from"],
            version_to=doc["version_to"],
            events=doc["events"],
            command_id=doc["command_id"],
            correlation_id=doc["correlation_id"],
            causation_id=doc.get("causation_id"),
            recorded_at=doc["recorded_at"],
        )

    @classmethod
    def new(
        cls,
        *,
        stream_id: str,
        stream_type: str,
        after_version: int,
        events: Sequence[Event],
        command_id: str,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Commit:
        """A commit of ``events`` to follow ``after_version`` of the stream."""
        if not events:
            raise ValueError("a commit holds at least one event")
        return cls(
            stream_id=stream_id,
            stream_type=stream_type,
            version_from=after_version + 1,
            version_to=after_version + len(events),
            events=[
                {"type": e.type, "version": after_version + i, "data": e.to_dict()}
                for i, e in enumerate(events, start=1)
            ],
            command_id=command_id,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )


def now() -> datetime:
    # MongoDB keeps milliseconds; round here so what was written is what is read.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


class EventStore:
    """Commits in the ``commits`` collection."""

    def __init__(self, db: Database):
        self._commits = db[COMMITS]

    def load(self, stream_id: str, after_version: int = 0) -> list[Commit]:
        """The stream's commits after ``after_version``, in order (one round trip)."""
        cursor = self._commits.find(
            {"stream_id": stream_id, "version_to": {"$gt": after_version}},
            sort=[("version_from", ASCENDING)],
        )
        return [Commit.from_document(doc) for doc in cursor]

    def find_by_command(self, stream_id: str, command_id: str) -> Commit | None:
        doc = self._commits.find_one({"stream_id": stream_id, "command_id": command_id})
        return Commit.from_document(doc) if doc else None

    def append(self, commit: Commit) -> None:
        """Append ``commit`` (one round trip).

        Raises:
          AlreadyCommitted: this command was committed before.
          ConcurrencyConflict: another commit took ``commit.version_from``.
        """
        try:
            self._commits.insert_one(commit.to_document())
        except DuplicateKeyError:
            # Which unique index refused it?  Asking the store is portable;
            # the error's keyPattern is not reported by every server.
            existing = self.find_by_command(commit.stream_id, commit.command_id)
            if existing is not None:
                raise AlreadyCommitted(existing) from None
            raise ConcurrencyConflict(
                f"{commit.stream_id} already has version {commit.version_from}"
            ) from None
