"""What the event store keeps: a *commit* (the events one command
produced, numbered in their stream) or a *decision* (a command decided
without events), as frozen values and as the documents they are stored as.

The store itself, and the only code that queries the collection, is
``infra/eventstore.py``; the events inside a commit are converted by
``infra/mapper.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.events import Event
from infra import mapper
from infra.mapper import Recorded

#: A decision record's ``version_from``: a string, so that it never takes a
#: version of the stream, yet the ``(stream_id, version_from)`` index stays
#: unique (one record per command).
DECIDED = "decided:"

UNCHANGED = "unchanged"
#: Stored in decision records, so spelt here for good: the command's status
#: for a refusal is ``rejected`` too (infra/statuses.py), but a document
#: written once keeps its value whatever the statuses are called later.
REFUSED = "rejected"


@dataclass(frozen=True)
class Decision:
    """A command decided without events: refused (``rejected``, with its
    error) or accepted with nothing to change (``unchanged``, at
    ``version``).  Kept in ``commits`` under the same unique
    ``(stream_id, command_id)`` index as commits, so that a command has one
    decision, whichever delivery made it: a delivery that decided otherwise
    later cannot append.  It carries the command, so that what it calls for
    (the process manager's answer to a refusal, the status) can be derived
    from it again, like a commit's."""

    stream_id: str
    stream_type: str
    outcome: str  # UNCHANGED or REFUSED
    version: int
    command_id: str
    command_type: str
    payload: dict[str, Any]
    correlation_id: str
    causation_id: str | None
    submitted_at: str | None
    error: dict[str, str] | None = None
    recorded_at: datetime = field(default_factory=lambda: now())
    #: The trace of the delivery that decided (W3C headers), if traced.
    trace_context: dict[str, str] | None = None
    #: The command whose chain this one belongs to (None: its own).
    origin_id: str | None = None

    @property
    def version_from(self) -> str:
        return DECIDED + self.command_id

    @property
    def recorded_ms(self) -> int:
        return to_ms(self.recorded_at)

    def to_document(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "stream_type": self.stream_type,
            "version_from": self.version_from,
            "decision": self.outcome,
            "version": self.version,
            "error": self.error,
            "command_id": self.command_id,
            "command_type": self.command_type,
            "payload": self.payload,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "submitted_at": self.submitted_at,
            "recorded_at": self.recorded_at,
            "recorded_ms": self.recorded_ms,
            "dispatched": False,
            **traced(self.trace_context),
            **originated(self.origin_id),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Decision:
        return cls(
            stream_id=doc["stream_id"],
            stream_type=doc["stream_type"],
            outcome=doc["decision"],
            version=doc["version"],
            command_id=doc["command_id"],
            command_type=doc["command_type"],
            payload=doc["payload"],
            correlation_id=doc["correlation_id"],
            causation_id=doc.get("causation_id"),
            submitted_at=doc.get("submitted_at"),
            error=doc.get("error"),
            recorded_at=doc["recorded_at"],
            trace_context=doc.get("trace_context"),
            origin_id=doc.get("origin_id"),
        )


def originated(origin_id: str | None) -> dict[str, Any]:
    """The command a chain began with, as a document's field: none for a
    command that began its own."""
    return {"origin_id": origin_id} if origin_id else {}


def traced(trace_context: dict[str, str] | None) -> dict[str, Any]:
    """A decision's trace context as a document's fields: none if untraced."""
    return {"trace_context": trace_context} if trace_context else {}


def decoded(doc: dict[str, Any]) -> Commit | Decision:
    return Decision.from_document(doc) if "decision" in doc else Commit.from_document(doc)


@dataclass(frozen=True)
class Commit:
    stream_id: str
    stream_type: str
    version_from: int
    version_to: int
    #: As stored (infra/mapper.py): ``recorded()`` gives the events.
    events: list[mapper.Stored]
    command_id: str
    correlation_id: str
    causation_id: str | None
    recorded_at: datetime = field(default_factory=lambda: now())
    #: The command that made it (its type and when it was submitted), so
    #: that its status can be written from the commit alone.
    command_type: str | None = None
    submitted_at: str | None = None
    #: The trace of the delivery that committed (W3C headers), if traced:
    #: what the outbox sends again later continues that trace.
    trace_context: dict[str, str] | None = None
    #: The command whose chain the committing one belongs to (None: its own).
    origin_id: str | None = None

    @property
    def recorded_ms(self) -> int:
        """``recorded_at`` in epoch milliseconds: ranges compare integers,
        which every server gets right."""
        return to_ms(self.recorded_at)

    def recorded(self) -> list[Recorded]:
        """The commit's events, each with its version and this commit's time."""
        return mapper.decode(self.events, self.recorded_at)

    def domain_events(self) -> list[Event]:
        return [r.event for r in self.recorded()]

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
            "recorded_ms": self.recorded_ms,
            "command_type": self.command_type,
            "submitted_at": self.submitted_at,
            "dispatched": False,
            **traced(self.trace_context),
            **originated(self.origin_id),
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
            command_type=doc.get("command_type"),
            submitted_at=doc.get("submitted_at"),
            trace_context=doc.get("trace_context"),
            origin_id=doc.get("origin_id"),
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
        command_type: str | None = None,
        submitted_at: str | None = None,
        trace_context: dict[str, str] | None = None,
        origin_id: str | None = None,
    ) -> Commit:
        """A commit of ``events`` to follow ``after_version`` of the stream."""
        if not events:
            raise ValueError("a commit holds at least one event")
        return cls(
            stream_id=stream_id,
            stream_type=stream_type,
            version_from=after_version + 1,
            version_to=after_version + len(events),
            events=mapper.encode(events, after_version=after_version),
            command_id=command_id,
            correlation_id=correlation_id,
            causation_id=causation_id,
            command_type=command_type,
            submitted_at=submitted_at,
            trace_context=trace_context,
            origin_id=origin_id,
        )


def span_attributes(commit: Commit | Decision) -> dict[str, Any]:
    attributes = {
        "shop.stream.id": commit.stream_id,
        "shop.stream.type": commit.stream_type,
        "shop.command.id": commit.command_id,
    }
    if isinstance(commit, Commit):
        return {**attributes, "shop.version": commit.version_to, "shop.events": len(commit.events)}
    return {**attributes, "shop.decision": commit.outcome}


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def now() -> datetime:
    # MongoDB keeps milliseconds; round here so what was written is what is read.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)
