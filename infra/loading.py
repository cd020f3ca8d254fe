"""Loading a stream to decide a command on: from a state kept earlier (a
snapshot, or what a handler remembers), when the commit that state ends
at is still in the store, else from the stream's beginning.  The worker
(workers/handler.py) and a dry run (web/dryrun.py) load alike, so that a
dry run decides on the state the worker would."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from domain.streams import StreamKind
from infra import deciding
from infra.commits import Commit
from infra.snapshots import Snapshot

log = logging.getLogger(__name__)


class Commits(Protocol):
    def load(self, stream_id: str, after_version: int = 0) -> list[Commit]: ...


@dataclass(frozen=True)
class Start:
    """Where a load starts: a state at ``version`` (None: the stream's
    beginning), reached by ``command_id``'s commit (a load checks it is
    still there); the version of the stream's kept snapshot; and when this
    was known (``time.monotonic``)."""

    state: Any
    version: int
    command_id: str | None
    snapshot_version: int
    at: float = 0.0
    #: Read from the snapshot (not kept by a handler).
    from_snapshot: bool = False


FROM_SCRATCH = Start(None, 0, None, 0)


def snapshot_start(snapshot: Snapshot, kind: StreamKind, stream_id: str) -> Start:
    """Where a load starts from ``snapshot``: its state, or the beginning if
    none is kept or it cannot be read (written by this schema yet
    unreadable: the load replays, and the next snapshot kept replaces it)."""
    if snapshot.state is None:
        return FROM_SCRATCH
    try:
        state = kind.aggregate.from_snapshot(snapshot.state)
    except Exception:
        log.warning("ignoring an unreadable snapshot of %s", stream_id, exc_info=True)
        return FROM_SCRATCH
    return Start(state, snapshot.version, snapshot.command_id, snapshot.version, from_snapshot=True)


class Loaded(NamedTuple):
    """A load: where it starts, and the commits after that."""

    start: Start
    history: list[Commit]
    #: The store does not hold the commit the asked start ends at (a store
    #: restored without its snapshots, a commit a failover rolled back):
    #: the load is from the beginning, and a snapshot it came from is
    #: ahead of the store.
    missed: bool = False


def load(store: Commits, stream_id: str, start: Start) -> Loaded:
    """The commits after ``start`` (one round trip), from the beginning if
    the commit ``start`` ends at is not there, so that nothing is decided
    on a state the store does not hold."""
    if start.version == 0:
        return Loaded(start, store.load(stream_id))
    # From the commit ending at the start's version: the check costs one
    # more document, not a round trip.
    history = store.load(stream_id, after_version=start.version - 1)
    if deciding.resumes(history, start.version, start.command_id):
        return Loaded(start, history[1:])
    log.warning(
        "%s: no commit of %s ends at version %s; loading the stream from its start",
        stream_id, start.command_id, start.version,
    )  # fmt: skip
    return Loaded(FROM_SCRATCH, store.load(stream_id), missed=True)
