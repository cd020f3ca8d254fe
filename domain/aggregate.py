"""What every aggregate shares: its state is the fold of its stream's
events, and it exists once its first event is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from domain import events


class Aggregate:
    """Base of the aggregates' frozen dataclasses: each declares ``version``
    and ``apply(event)``, which returns the next state."""

    version: int

    @property
    def exists(self) -> bool:
        return self.version > 0

    @classmethod
    def replay(cls, history: Iterable[events.Event]) -> Self:
        state = cls()
        for event in history:
            state = state.apply(event)
        return state

    def apply(self, event: events.Event) -> Self:
        raise NotImplementedError
