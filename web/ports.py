"""What the web tier's resources and middleware need of their adapters.

Each port lists only the calls made on it; the adapters built by
``create_app`` satisfy them, and the unit tests' fakes subclass them, so
that a change of a port breaks the fakes at once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from domain.commands import Command
from infra.commandbus import Accepted, IdempotencyRequest
from infra.deciding import Proposal
from infra.messages import CommandEnvelope
from infra.progress import Head
from infra.stories import Told
from web.readings import RedisReading
from web.views import Page, ProductFilter


class CommandSubmitter(Protocol):
    """Queues commands, at most once per idempotency key."""

    def submit(
        self,
        envelope: CommandEnvelope,
        response: dict[str, Any],
        idempotency: IdempotencyRequest | None = None,
    ) -> Accepted:
        """Queue ``envelope``; ``response`` is what the client is answered.

        Raises:
          KeyReused, KeyInFlight, QueueFull, NotQueued, OutcomeUnknown.
        """
        ...


class CommandPreview(Protocol):
    """Decides a command on its stream as the event store holds it now,
    as the worker would, and writes nothing (a dry run)."""

    def preview(self, command: Command) -> Proposal:
        """The events it would commit, after which version.

        Raises:
          DomainError: it would be refused.
        """
        ...


class StatusLookup(Protocol):
    """How a queued command ended, or that it has not yet."""

    def get(self, command_id: str) -> dict[str, Any] | None: ...


class ProductReadModel(Protocol):
    """The catalog's read model."""

    def get(self, stream_id: str) -> dict[str, Any] | None: ...

    def list(self, where: ProductFilter, sort: str, limit: int, after: list[Any] | None = None) -> Page: ...


class OrderReadModel(Protocol):
    """The orders' read model."""

    def get(self, stream_id: str) -> dict[str, Any] | None: ...

    def for_customer(
        self, customer_id: str, status: str | None, limit: int, after: list[Any] | None = None
    ) -> Page: ...


class StreamHistory(Protocol):
    """A stream's events, read from the event store."""

    def events(self, stream_id: str, stream_type: str) -> list[dict[str, Any]] | None:
        """Its events oldest first, or None when there is no such stream."""
        ...


class StreamProgress(Protocol):
    """How far the write side has gone, for the freshness headers."""

    def heads(self, stream_ids: list[str]) -> dict[str, Head]: ...

    def newest_applied(self, collection: str) -> datetime | None: ...


class ReadModelVersion(Protocol):
    """The version a stream's read-model document has reached."""

    def __call__(self, stream_type: str, stream_id: str) -> int | None: ...


class StoryReader(Protocol):
    """Commands' stories (infra/stories.py)."""

    def read(self, story_id: str, after: int = 0, *, count: int = 500) -> list[Told]:
        """The entries after the one with id ``after`` (all if 0)."""
        ...

    def last(self, story_id: str) -> Told | None:
        """The newest entry, if any."""
        ...


class SignalWatch(Protocol):
    """A subscription to some signals, while a request waits on them."""

    def wait(self, timeout: float) -> bool:
        """Until a watched key is signalled or ``timeout``; True if signalled."""
        ...

    def add(self, keys: Iterable[str]) -> None:
        """Watch ``keys`` too."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> SignalWatch: ...

    def __exit__(self, *exc: object) -> None: ...


class SignalSource(Protocol):
    """Wakes requests waiting on a command or a stream."""

    def watch(self, keys: Iterable[str]) -> SignalWatch: ...


class StateReadings(Protocol):
    """The measures ``/metrics`` and ``/ops/data`` show (web.readings); each
    call raises when its source does not answer."""

    def from_redis(self) -> RedisReading: ...

    def dead_letters(self) -> int: ...


class DeadLetterDesk(Protocol):
    """The dead letters kept in the store, and retries of them queued for a
    worker (the web process applies nothing itself)."""

    def oldest(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` oldest letters, without message and traceback."""
        ...

    def exists(self, letter_id: str) -> bool: ...

    def queue_retry(self, letter_id: str) -> None: ...


class RebuildPointers(Protocol):
    """Each read model's generation pointer as stored now
    (infra/generations.py), by name."""

    def __call__(self) -> dict[str, dict[str, Any]]: ...
