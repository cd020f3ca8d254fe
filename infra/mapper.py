"""The one conversion between domain events and the form in which they are
stored in a commit and carried by a notification:
``{"type": "StockAdjusted", "version": 7, "schema": 1, "data": {...}}``,
where ``version`` is the event's place in its stream and ``schema`` the
version of its type's shape it was written in (none: 1).

The domain sees event objects; the store and the messages see these
documents.  Events are encoded here when a commit is made and decoded
here when a commit or a notification is read, nowhere else; reading
brings an event written in an older schema up to today's shape
(``domain/upcasting.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from domain.events import Event, event_from_dict
from domain.upcasting import current_schema, upcast

#: An event as stored: its type's name, its version in the stream, its data.
Stored = dict[str, Any]


@dataclass(frozen=True)
class Recorded:
    """An event at its place in its stream, with when it was committed.

    The event is decoded when first read: a fold that meets an event it
    cannot read (an unknown type, data of another shape) fails at that
    event's version, as when its view fails, and keeps what came before."""

    stored: Stored
    recorded_at: datetime

    @property
    def version(self) -> int:
        return self.stored["version"]

    @cached_property
    def event(self) -> Event:
        """Raises:
        KeyError: the event's type is unknown.
        TypeError: its data does not fit its type.
        NewerSchema: it was written in a schema newer than this code's.
        """
        event_type = self.stored["type"]
        data = upcast(event_type, self.stored.get("schema", 1), self.stored["data"])
        return event_from_dict(event_type, data)


def encode(events: Sequence[Event], *, after_version: int) -> list[Stored]:
    """``events`` as stored, numbered on from ``after_version``."""
    return [
        {
            "type": event.type,
            "version": after_version + i,
            "schema": current_schema(event.type),
            "data": event.to_dict(),
        }
        for i, event in enumerate(events, start=1)
    ]


def decode(stored: Iterable[Stored], recorded_at: datetime) -> list[Recorded]:
    """Stored events of one commit (recorded at ``recorded_at``), each
    decoded when its ``event`` is first read."""
    return [Recorded(e, recorded_at) for e in stored]
