"""What the command handler needs of its adapters.

Each port lists only the calls the handler makes; the MongoDB and Redis
adapters in ``infra/`` satisfy them, and the unit tests' fakes subclass
them, so that a change of a port breaks the fakes at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from infra.commits import Commit, Decision
from infra.messages import CommandEnvelope
from infra.skus import Claim
from infra.snapshots import Snapshot


class EventLog(Protocol):
    """The event store: streams of commits, and decisions without events."""

    def load(self, stream_id: str, after_version: int = 0) -> list[Commit]:
        """The stream's commits after ``after_version``, in order."""
        ...

    def find_by_command(self, stream_id: str, command_id: str) -> Commit | Decision | None:
        """The command's commit, or the record of its decision without events."""
        ...

    def append(self, commit: Commit | Decision) -> None:
        """Append a commit or record a decision.

        Raises:
          AlreadyCommitted: the command was decided before.
          ConcurrencyConflict: another commit took ``commit.version_from``.
        """
        ...


class SnapshotStore(Protocol):
    """Aggregate states kept beside their streams (``infra/snapshots.py``)."""

    def load(self, stream_id: str, stream_type: str, schema: str) -> Snapshot: ...

    def save(
        self,
        stream_id: str,
        stream_type: str,
        schema: str,
        version: int,
        state: dict[str, Any],
        command_id: str,
    ) -> bool: ...

    def delete(self, stream_ids: list[str] | None = None) -> int: ...


class SkuRegistry(Protocol):
    """Who holds each SKU while its product is being created."""

    def insert(self, claim: Claim) -> bool:
        """Claim a free SKU; False when somebody holds it."""
        ...

    def holder(self, sku: str) -> Claim | None: ...

    def refresh(self, claim: Claim) -> bool:
        """Renew the holder's lease; False if the claim changed since it was read."""
        ...

    def take_over(self, stale: Claim, claim: Claim) -> bool:
        """Replace ``stale`` by ``claim`` if ``stale`` still holds the SKU unchanged."""
        ...

    def release(self, claim: Claim) -> None: ...


class MessageSender(Protocol):
    """Hands a decision over to the broker: its follow-up commands, its
    commit's announcement to the read side, and the command's final status
    (the status last, or all at once: never before the rest)."""

    def hand_over(
        self,
        envelope: CommandEnvelope,
        status: str,
        *,
        follow_ups: Sequence[CommandEnvelope] = (),
        commit: Commit | None = None,
        version: int | None = None,
        error: dict[str, str] | None = None,
    ) -> None: ...


class StatusBook(Protocol):
    """The record of how each command ended."""

    def get(self, command_id: str) -> dict[str, Any] | None: ...

    def finish(
        self,
        envelope: CommandEnvelope,
        status: str,
        *,
        version: int | None = None,
        error: dict[str, str] | None = None,
        commit: Commit | None = None,
    ) -> None:
        """Record the final outcome (unless one is there), and move the
        stream's head when there is a commit."""
        ...
