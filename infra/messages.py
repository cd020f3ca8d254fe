"""The messages that cross Redis: a command for the ``commands`` queue and
a "stream changed" notification for the ``projections`` queue.

The web tier builds messages here instead of importing the actors, so it
needs neither the actors' code nor a global broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dramatiq

from domain.commands import Command
from domain.messages import field_names, plain
from infra import mapper
from infra.commits import Commit
from infra.mapper import Recorded

COMMANDS_QUEUE = "commands"
PROJECTIONS_QUEUE = "projections"
HANDLE_COMMAND = "handle_command"
PROJECT_STREAM = "project_stream"
RETRY_DEAD_LETTER = "retry_dead_letter"


def rfc3339(t: datetime) -> str:
    """``2026-11-26T05:40:00.123Z``: UTC, milliseconds, as MongoDB keeps them."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class CommandEnvelope:
    """A command with what the service needs to track it."""

    command_id: str
    type: str
    stream_id: str
    stream_type: str
    payload: dict[str, Any]
    correlation_id: str
    submitted_at: str
    causation_id: str | None = None
    #: The command a process manager's chain began with (None: this one):
    #: its story (``GET /commands/{id}/events``) follows the whole chain.
    origin_id: str | None = None

    @property
    def origin(self) -> str:
        """The id of the command whose story this one's steps belong to."""
        return self.origin_id or self.command_id

    @classmethod
    def wrap(
        cls,
        command: Command,
        *,
        command_id: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        origin_id: str | None = None,
        submitted_at: datetime | None = None,
    ) -> CommandEnvelope:
        return cls(
            command_id=command_id,
            type=command.type,
            stream_id=command.stream_id,
            stream_type=command.stream_type,
            payload=command.to_dict(),
            correlation_id=correlation_id or command_id,
            causation_id=causation_id,
            origin_id=origin_id,
            submitted_at=rfc3339(submitted_at or datetime.now(UTC)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a message carries it (the payload copied, as
        ``dataclasses.asdict`` would, at a fraction of its cost).  A root
        command's has no ``origin_id``: what a worker of the release before
        reads is what it wrote."""
        data = {name: plain(getattr(self, name)) for name in field_names(CommandEnvelope)}
        if data["origin_id"] is None:
            del data["origin_id"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CommandEnvelope:
        """An envelope from a message; fields a later release added are
        left out (a rolling deploy runs both releases for a while)."""
        names = field_names(CommandEnvelope)
        return cls(**{name: value for name, value in data.items() if name in names})


#: A process manager's command must not be given up: nothing would send it
#: again, and an order would wait, or stock stay reserved, for ever.  It is
#: retried until it succeeds, at most 5 minutes apart (for about a month).
FOLLOW_UP_RETRIES = {"max_retries": 10_000, "max_backoff": 300_000}


def command_message(envelope: CommandEnvelope, **options: Any) -> dramatiq.Message:
    """The ``handle_command`` message carrying ``envelope``, with ``options``
    beside the retry policy of its kind."""
    if envelope.causation_id:
        options = {**FOLLOW_UP_RETRIES, **options}
    return dramatiq.Message(
        queue_name=COMMANDS_QUEUE,
        actor_name=HANDLE_COMMAND,
        args=(envelope.to_dict(),),
        kwargs={},
        options=options,
    )


def retry_message(letter_id: str) -> dramatiq.Message:
    """The ``retry_dead_letter`` message: a worker applies the dead letter
    ``letter_id`` again (the web process writes no stream itself)."""
    return dramatiq.Message(
        queue_name=COMMANDS_QUEUE, actor_name=RETRY_DEAD_LETTER, args=(letter_id,), kwargs={}, options={}
    )


def notification(commit: Commit) -> dict[str, Any]:
    """ "Stream X changed", carrying the commit's events so that a projector
    that is up to date needs no read of the event store."""
    return {
        "stream_id": commit.stream_id,
        "stream_type": commit.stream_type,
        "version_from": commit.version_from,
        "version_to": commit.version_to,
        "events": commit.events,
        "recorded_at": rfc3339(commit.recorded_at),
        "command_id": commit.command_id,
        "correlation_id": commit.correlation_id,
        "origin_id": commit.origin_id,
    }


def carried(note: dict[str, Any]) -> list[Recorded]:
    """The events a notification carries (decoded as a commit's are)."""
    return mapper.decode(note["events"], parse_rfc3339(note["recorded_at"]))


def notification_message(commit: Commit) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=PROJECTIONS_QUEUE,
        actor_name=PROJECT_STREAM,
        args=(notification(commit),),
        kwargs={},
        options={},
    )
