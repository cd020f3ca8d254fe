"""What every aggregate shares: its state is the fold of its stream's
events, and it exists once its first event is.  Its state can also be kept
as a *snapshot*, a dict of primitives from which the same state comes back."""

from __future__ import annotations

import dataclasses
import hashlib
import typing
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, ClassVar, Self

from domain import events
from domain.upcasting import current_schema


class Aggregate:
    """Base of the aggregates' frozen dataclasses: each declares ``version``
    and ``apply(event)``, which returns the next state, and how its state
    is kept in a snapshot (``to_snapshot`` / ``from_snapshot``)."""

    version: int
    #: Raise it when ``apply`` changes what a state means without changing
    #: its fields (a fold fixed): snapshots of the old meaning are then
    #: ignored.  A change of fields is seen without it.
    SNAPSHOT_REVISION: ClassVar[int] = 1

    @property
    def exists(self) -> bool:
        return self.version > 0

    @classmethod
    def replay(cls, history: Iterable[events.Event], start: Self | None = None) -> Self:
        """The state after ``history``, folded from ``start`` (a new
        aggregate unless given: a snapshot's state)."""
        state = cls() if start is None else start
        for event in history:
            state = state.apply(event)
        return state

    def apply(self, event: events.Event) -> Self:
        raise NotImplementedError

    def to_snapshot(self) -> dict[str, Any]:
        """Every field, as JSON's primitives (mappings as dicts, tuples as
        lists, dataclasses as dicts): derived from the fields, so that a
        field added later is kept without a word here."""
        return _primitive(self)

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Self:
        raise NotImplementedError

    @classmethod
    @cache
    def snapshot_schema(cls) -> str:
        """What a snapshot of this aggregate must have been written with to
        be read: the class, its revision, its fields (those of the
        dataclasses inside them too) and the schema of every event it may
        have folded.  Code that keeps other fields, or reads events
        otherwise, reads none of the old snapshots."""
        described = [_fields(cls), *(f"{name}:{current_schema(name)}" for name in sorted(events.EVENTS))]
        digest = hashlib.sha256("|".join(described).encode()).hexdigest()[:12]
        return f"{cls.__name__}/{cls.SNAPSHOT_REVISION}/{digest}"


def _primitive(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _primitive(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: _primitive(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_primitive(item) for item in value]
    return value


def _fields(cls: type) -> str:
    """``cls``'s fields and their types, and so on for the dataclasses
    among those types."""
    hints = typing.get_type_hints(cls)
    described = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[field.name]
        inner = [_fields(arg) for arg in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(arg)]
        described.append(f"{field.name}:{hint}" + (f"({','.join(inner)})" if inner else ""))
    return ",".join(described)
