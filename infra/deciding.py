"""Deciding a command on its stream: what the worker commits
(workers/handler.py) and what a dry run shows (web/dryrun.py) come from
this one code, so that the two cannot disagree.  Pure: the callers read
the store and the SKU claims, and only the worker writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.commands import Command, CreateProduct
from domain.errors import DuplicateSku
from domain.events import Event
from domain.streams import STREAM_KINDS
from infra import mapper
from infra.commits import REFUSED, Commit, Decision
from infra.skus import Claim


@dataclass(frozen=True)
class Proposal:
    """The events a command would commit after ``after_version`` of its
    stream; none: it changes nothing."""

    after_version: int
    events: tuple[Event, ...]

    def stored(self) -> list[mapper.Stored]:
        """The events as their commit would store them, at the versions they would take."""
        return mapper.encode(self.events, after_version=self.after_version)


def replay(command: Command, history: Sequence[Commit], start: Any = None) -> Any:
    """The state of the command's stream after ``history``, the commits
    loaded after ``start`` (a state; None: the beginning).

    Raises:
      DomainError: the commits are another kind of stream's (ids are
        shared), so the command's stream does not exist.
    """
    kind = STREAM_KINDS[command.stream_type]
    if history and history[0].stream_type != command.stream_type:
        raise kind.not_found(f"no {command.stream_type} {command.stream_id}")
    return kind.aggregate.replay((e for c in history for e in c.domain_events()), start)


def propose(command: Command, state: Any) -> Proposal:
    """What the command decides on ``state``.

    Raises:
      DomainError: the domain refuses it.
    """
    events = STREAM_KINDS[command.stream_type].decide(state, command)
    return Proposal(state.version, tuple(events))


def resumes(history: Sequence[Commit], version: int, command_id: str | None) -> bool:
    """Whether commits loaded from ``version - 1`` start with the commit of
    ``command_id`` ending at ``version``, so that a state kept at that
    version (a snapshot) is the stream's and ``history[1:]`` follow it."""
    return bool(history) and (history[0].version_to, history[0].command_id) == (version, command_id)


def refused_for_good(decided: Commit | Decision) -> bool:
    """A refusal of a command that may have claimed a SKU it no longer
    needs: any refusal but a duplicate SKU (whose command never held it)."""
    return (
        isinstance(decided, Decision)
        and decided.outcome == REFUSED
        and decided.error is not None
        and decided.error.get("code") != DuplicateSku.code
    )


def sku_taken(
    command: CreateProduct, holder: Claim, decided: Commit | Decision | None
) -> DuplicateSku | None:
    """The refusal of a create whose SKU ``holder`` claimed for another
    product, if the holder's command decided (``decided``) and kept it."""
    if holder.product_id == command.product_id or decided is None or refused_for_good(decided):
        return None
    return DuplicateSku(f"SKU {command.sku!r} belongs to product {holder.product_id}")
