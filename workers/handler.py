"""The write side: load a stream, let the domain decide, append one commit,
announce it, record the outcome.  Every step is safe to repeat, because
Dramatiq delivers at least once."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from domain import process
from domain.commands import CREATES_STREAM, Command, CreateProduct, command_from_dict
from domain.errors import DomainError
from domain.streams import STREAM_KINDS, StreamKind
from infra import deciding, loading
from infra.commits import REFUSED, UNCHANGED, Commit, Decision, span_attributes
from infra.eventstore import AlreadyCommitted, ConcurrencyConflict
from infra.loading import FROM_SCRATCH, Start
from infra.messages import CommandEnvelope, rfc3339
from infra.skus import Claim
from infra.statuses import FAILED, REJECTED, SUCCEEDED
from infra.tracing import carrier, tracer
from workers.ports import EventLog, MessageSender, SkuRegistry, SnapshotStore, StatusBook
from workers.remembered import Remembered

log = logging.getLogger(__name__)

#: Follow-up command ids are name-based UUIDs of their cause, so that a
#: cause handled twice sends the same commands, which take effect once.
FOLLOW_UPS = uuid.UUID("6f1f7c3e-29a4-4c55-9d1e-5d0f3b8a2c41")


#: A SKU claim whose holder neither committed nor ended may be taken over
#: after this long without a delivery of the holder's command: far longer
#: than its retries and time limits take.
CLAIM_LEASE_S = 15 * 60

#: A claim whose holder ended ``failed`` may be taken over once it has not
#: been worked on for this long: past the time limit of any delivery of the
#: holder's command (60 s), and past a paused worker's messages coming
#: back (the heartbeat timeout), so that no copy of it can still commit.
CLAIM_GRACE_S = 3 * 60


#: Streams whose last loaded or committed state a handler keeps.
REMEMBERED = 2000
#: How long a handler starts a stream's load from the state it kept,
#: rather than from the stream's snapshot: long enough for a burst of
#: commands on one stream, short enough that commits by other processes
#: meanwhile stay few.
RECENT_FOR_S = 10.0


class TooManyConflicts(Exception):
    """The stream kept moving under us; let the broker retry later."""


class SkuClaimPending(Exception):
    """Another command holds the SKU and has not finished; retry later."""


def envelope_of(decided: Commit | Decision) -> CommandEnvelope:
    """The envelope of the command that made a decision, as far as its
    status and follow-ups need it (a commit does not keep the payload)."""
    return CommandEnvelope(
        command_id=decided.command_id,
        type=decided.command_type or "unknown",
        stream_id=decided.stream_id,
        stream_type=decided.stream_type,
        payload=decided.payload if isinstance(decided, Decision) else {},
        correlation_id=decided.correlation_id,
        submitted_at=decided.submitted_at or rfc3339(decided.recorded_at),
        causation_id=decided.causation_id,
        origin_id=decided.origin_id,
    )


def settled_status(decided: Commit | Decision) -> tuple[str, int | None]:
    """The ``(status, version)`` a command's record holds once everything
    its decision called for was sent."""
    if isinstance(decided, Commit):
        return SUCCEEDED, decided.version_to
    if decided.outcome == REFUSED:
        return REJECTED, None
    return SUCCEEDED, decided.version


def outcome_of(decided: Commit | Decision) -> Outcome:
    status, version = settled_status(decided)
    if isinstance(decided, Commit):
        return Outcome(status, commit=decided, version=version)
    error = Refusal(**decided.error) if decided.outcome == REFUSED else None
    return Outcome(status, version=version, error=error)


@dataclass(frozen=True)
class Refusal:
    code: str
    detail: str


@dataclass(frozen=True)
class Outcome:
    status: str
    commit: Commit | None = None
    version: int | None = None
    error: Refusal | None = None
    #: The ids of the follow-up commands this delivery sent.
    follow_ups: tuple[str, ...] = ()


class CommandHandler:
    def __init__(
        self,
        store: EventLog,
        skus: SkuRegistry,
        publisher: MessageSender,
        statuses: StatusBook,
        *,
        max_conflicts: int = 20,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        snapshots: SnapshotStore | None = None,
        snapshot_every: Mapping[str, int] | None = None,
        remembered: int = REMEMBERED,
    ):
        """``snapshots``: where states are kept so that a load replays at
        most ``snapshot_every[stream_type]`` events (plus one commit's);
        without it, or at 0, every load replays the whole stream.
        ``remembered``: how many streams' states this handler keeps from
        its own last load or commit, to load only what came after."""
        self._snapshots = snapshots
        self._snapshot_every = dict(snapshot_every or {})
        # The states this handler last loaded or committed, by stream.  A
        # state at a version is the fold of the events up to it, which never
        # change, so it stays right: a load starts from it and reads only the
        # commits after it, whoever wrote them.
        self._recent: Remembered[Start] = Remembered(remembered)
        self._store = store
        self._skus = skus
        self._publisher = publisher
        self._statuses = statuses
        self._max_conflicts = max_conflicts
        self._sleep = sleep
        self._clock = clock

    def handle(self, envelope: CommandEnvelope) -> Outcome:
        """Apply one command exactly once in effect.

        Raises:
          Exception: a store or broker fault; the caller retries the whole call.
        """
        decided, earlier = self._decide(command_from_dict(envelope.type, envelope.payload), envelope)
        if earlier:
            # Delivered again: its decision was in the store (the commit, or
            # the record of a refusal).  A final status is written in the
            # same step as everything the decision called for, so it says
            # nothing is left to hand over (and no follow-up is sent again,
            # which would set its own chain going once more).
            known = self._statuses.get(envelope.command_id)
            if known is not None and known["status"] in (SUCCEEDED, REJECTED):
                return outcome_of(decided)
        elif isinstance(decided, Commit):
            log.debug("committed %s to version %s", decided.stream_id, decided.version_to)
        sent = self.dispatch(decided, envelope)
        return replace(outcome_of(decided), follow_ups=tuple(e.command_id for e in sent))

    def _decide(self, command: Command, envelope: CommandEnvelope) -> tuple[Commit | Decision, bool]:
        """The command's decision, recorded in the store: its commit, or a
        record of a refusal or of a change that changed nothing; and whether
        another delivery of the command decided first (its decision is the
        one)."""
        try:
            if isinstance(command, CreateProduct):
                self._claim_sku(command, envelope)
            decided, earlier = self._commit(command, envelope)
        except DomainError as rejection:
            log.debug("command %s %s rejected: %s", envelope.type, envelope.command_id, rejection.code)
            refusal = self._decision(
                envelope, REFUSED, 0, {"code": rejection.code, "detail": rejection.detail}
            )
            decided, earlier = self._record(refusal)
        if deciding.refused_for_good(decided):
            # A create is refused only when its stream exists already or the
            # command itself is invalid: no delivery of it can commit, so the
            # SKU this delivery (or an earlier one) claimed is free again.
            self._release_sku(command, envelope)
        return decided, earlier

    def _record(self, decision: Decision) -> tuple[Commit | Decision, bool]:
        """Record ``decision``; or, if another delivery of the command
        decided first, that decision instead (and True)."""
        try:
            self._store.append(decision)
        except AlreadyCommitted as first:
            return first.commit, True
        return decision, False

    @staticmethod
    def _decision(envelope: CommandEnvelope, outcome: str, version: int, error=None) -> Decision:
        return Decision(
            stream_id=envelope.stream_id,
            stream_type=envelope.stream_type,
            outcome=outcome,
            version=version,
            command_id=envelope.command_id,
            command_type=envelope.type,
            payload=envelope.payload,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
            origin_id=envelope.origin_id,
            submitted_at=envelope.submitted_at,
            error=error,
            trace_context=carrier(),
        )

    def dispatch(
        self, decided: Commit | Decision, envelope: CommandEnvelope | None = None
    ) -> list[CommandEnvelope]:
        """Hand over everything a decision calls for with its status, in one
        step: for a commit, its follow-up commands and its announcement to
        the read side; for a refusal, the process manager's answer to it.

        Safe to repeat, and repeated by the outbox sweep for any decision
        whose status does not show it done (a crash, or Redis down, before
        the handover): follow-ups have ids derived from their cause, so a
        second copy takes effect once, and the status is never written
        apart from what it vouches for.

        Returns:
          The follow-up commands sent.
        """
        envelope = envelope or envelope_of(decided)
        name = f"dispatch {decided.stream_type}"
        with tracer.start_as_current_span(name, attributes=span_attributes(decided)):
            return self._dispatch(decided, envelope)

    def _dispatch(self, decided: Commit | Decision, envelope: CommandEnvelope) -> list[CommandEnvelope]:
        status, version = settled_status(decided)
        if isinstance(decided, Commit):
            follow_ups = self._after_commit(decided)
            self._publisher.hand_over(
                envelope, status, follow_ups=follow_ups, commit=decided, version=version
            )
        elif decided.outcome == REFUSED:
            command = command_from_dict(decided.command_type, decided.payload)
            follow_ups = self._after_rejection(command, envelope, decided.error["code"])
            self._publisher.hand_over(envelope, status, follow_ups=follow_ups, error=decided.error)
        else:
            follow_ups = []
            self._publisher.hand_over(envelope, status, version=version)
        for follow_up in follow_ups:
            log.debug("sent follow-up %s %s", follow_up.type, follow_up.command_id)
        return follow_ups

    def _after_commit(self, commit: Commit) -> list[CommandEnvelope]:
        """The follow-up commands the commit's events call for."""
        return [
            self._follow_up(follow_up, cause=f"{commit.stream_id}@{recorded.version}", commit_like=commit)
            for recorded in commit.recorded()
            for follow_up in process.react(commit.stream_type, commit.stream_id, recorded.event)
        ]

    def _after_rejection(
        self, command: Command, envelope: CommandEnvelope, code: str
    ) -> list[CommandEnvelope]:
        return [
            self._follow_up(follow_up, cause=f"{envelope.command_id}/rejected", commit_like=envelope)
            for follow_up in process.react_to_rejection(command, code)
        ]

    @staticmethod
    def _follow_up(command: Command, *, cause: str, commit_like) -> CommandEnvelope:
        return CommandEnvelope.wrap(
            command,
            command_id=str(uuid.uuid5(FOLLOW_UPS, f"{cause}/{command.type}/{command.stream_id}")),
            correlation_id=commit_like.correlation_id,
            causation_id=commit_like.command_id,
            origin_id=commit_like.origin_id or commit_like.command_id,
        )

    def give_up(self, envelope: CommandEnvelope, exc: BaseException) -> None:
        """Record the outcome of a command whose retries ran out.

        If it was decided (only handing its decision over failed), that is
        its outcome: dispatch it once more; if that fails too, the outbox
        sweep finishes it.  If the store cannot be asked, a decision (if
        any) is found by the same sweep, whose status replaces ``failed``.
        Otherwise it is ``failed``.

        A SKU it claimed is not freed here: another delivery of the same
        command may still be running (a worker paused past its heartbeat),
        and could commit.  The claim is taken over once it has not been
        worked on for ``CLAIM_GRACE_S`` (see ``_claim_sku``).

        Raises:
          redis.RedisError: the outcome could not be recorded; try again.
        """
        try:
            decided = self._store.find_by_command(envelope.stream_id, envelope.command_id)
        except Exception:
            log.warning("store unreachable while giving up on %s", envelope.command_id)
            decided = None
        if decided is not None:
            try:
                self.dispatch(decided, envelope)
            except Exception:
                log.warning("could not dispatch the decision of %s; the outbox will", envelope.command_id)
            return
        self._statuses.finish(
            envelope, FAILED, error={"code": FAILED, "detail": f"{type(exc).__name__}: {exc}"}
        )

    def _commit(self, command: Command, envelope: CommandEnvelope) -> tuple[Commit | Decision, bool]:
        """The command's commit, or the record that it changed nothing (at
        the stream's current version).

        Raises:
          DomainError: the domain refuses the command (nothing is recorded).
        """
        kind = STREAM_KINDS[command.stream_type]
        # A create targets a new stream: skip the load and let the unique
        # index tell us otherwise.
        creates = isinstance(command, CREATES_STREAM)
        history: list[Commit] | None = [] if creates else None
        start = FROM_SCRATCH if creates else self._start(envelope.stream_id, kind)
        for attempt in range(self._max_conflicts):
            if history is None:
                start, history = self._load(envelope.stream_id, start)
            # (Loaded after a snapshot, history may not hold an earlier
            # commit of this command: appending it again then finds it.)
            done = next((c for c in history if c.command_id == envelope.command_id), None)
            if done is not None:
                return done, True
            state = deciding.replay(command, history, start.state)
            if history:
                start = replace(start, state=state, version=state.version, command_id=history[-1].command_id)
            if state.version:
                self._remember(envelope.stream_id, replace(start, at=time.monotonic()))
            proposal = deciding.propose(command, state)
            if not proposal.events:
                return self._record(self._decision(envelope, UNCHANGED, state.version))
            commit = Commit.new(
                command_type=envelope.type,
                submitted_at=envelope.submitted_at,
                stream_id=envelope.stream_id,
                stream_type=envelope.stream_type,
                after_version=proposal.after_version,
                events=proposal.events,
                command_id=envelope.command_id,
                correlation_id=envelope.correlation_id,
                causation_id=envelope.causation_id,
                origin_id=envelope.origin_id,
                trace_context=carrier(),
            )
            try:
                self._store.append(commit)
            except AlreadyCommitted as decided:
                return decided.commit, True
            except ConcurrencyConflict:
                history = None
                # Spread racing writers apart before they load again.
                self._sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
            else:
                committed = kind.aggregate.replay(proposal.events, state)
                kept = self._keep_snapshot(envelope, kind, start.snapshot_version, committed)
                now = time.monotonic()
                self._remember(
                    envelope.stream_id, Start(committed, committed.version, envelope.command_id, kept, now)
                )
                return commit, False
        raise TooManyConflicts(f"{envelope.stream_id}: {self._max_conflicts} conflicts in a row")

    def _remember(self, stream_id: str, start: Start) -> None:
        known = self._recent.get(stream_id)
        if known is None or known.version <= start.version:
            self._recent.keep(stream_id, start)

    def _start(self, stream_id: str, kind: StreamKind) -> Start:
        """Where a load of the stream starts: the state this handler kept
        of it in the last ``RECENT_FOR_S``, else the newer of the stream's
        snapshot and the state it kept earlier, else nothing."""
        recent = self._recent.get(stream_id)
        if recent is not None and type(recent.state) is not kind.aggregate:
            recent = None  # an id of another kind of stream
        if recent is not None and time.monotonic() - recent.at < RECENT_FOR_S:
            return recent
        if self._snapshots is None or not self._snapshot_every.get(kind.name):
            return recent or FROM_SCRATCH
        snapshot = self._snapshots.load(stream_id, kind.name, kind.aggregate.snapshot_schema())
        if recent is not None and recent.version >= snapshot.version:
            return replace(recent, snapshot_version=snapshot.version)
        return loading.snapshot_start(snapshot, kind, stream_id)

    def _load(self, stream_id: str, start: Start) -> tuple[Start, list[Commit]]:
        """The commits after ``start``, and where they start (infra/loading.py)."""
        loaded = loading.load(self._store, stream_id, start)
        if loaded.missed and start.from_snapshot and self._snapshots is not None:
            # Ahead of the commits: no write would replace it until the
            # stream passes its version.
            self._snapshots.delete([stream_id])
        return loaded.start, loaded.history

    def _keep_snapshot(self, envelope: CommandEnvelope, kind: StreamKind, kept: int, committed) -> int:
        """After a commit: once ``snapshot_every`` events or more came after
        the stream's kept snapshot (at version ``kept``), keep the committed
        state instead, so that no load from the snapshot replays more (one
        write; a failure is logged and changes nothing).  The version of
        the snapshot kept now."""
        every = self._snapshot_every.get(kind.name)
        if self._snapshots is None or not every or committed.version - kept < every:
            return kept
        try:
            saved = self._snapshots.save(
                envelope.stream_id,
                kind.name,
                kind.aggregate.snapshot_schema(),
                committed.version,
                committed.to_snapshot(),
                envelope.command_id,
            )
        except Exception:
            log.warning("could not keep a snapshot of %s", envelope.stream_id, exc_info=True)
            return kept
        return committed.version if saved else kept

    def _claim_sku(self, command: CreateProduct, envelope: CommandEnvelope) -> None:
        mine = Claim(sku=command.sku, product_id=command.product_id, command_id=envelope.command_id)
        for _ in range(5):
            if self._skus.insert(mine):
                return
            holder = self._skus.holder(command.sku)
            if holder is None:
                continue  # released in between: try again
            if holder.product_id == command.product_id:
                if holder.command_id != envelope.command_id or self._skus.refresh(holder):
                    return  # ours, from an earlier delivery: lease renewed
                continue  # taken over meanwhile: look again
            # Another product holds it.  Read its command's status before
            # looking for its commit: a holder that commits in between has
            # then already been seen as still at work, never as gone.
            status = self._statuses.get(holder.command_id)
            decided = self._store.find_by_command(holder.product_id, holder.command_id)
            taken = deciding.sku_taken(command, holder, decided)
            if taken is not None:
                raise taken
            idle_s = self._clock() - holder.claimed_ms / 1000
            state = status["status"] if status is not None else None
            # A create is rejected only when no delivery of it can commit;
            # a failed one may still have a delivery running, for a while.
            ended = decided is not None or state == REJECTED or (state == FAILED and idle_s > CLAIM_GRACE_S)
            if not (ended or idle_s > CLAIM_LEASE_S):
                raise SkuClaimPending(f"SKU {command.sku!r} is being claimed by {holder.command_id}")
            if self._skus.take_over(holder, mine):
                return
        raise SkuClaimPending(f"SKU {command.sku!r} kept changing hands")

    def _release_sku(self, command: Command, envelope: CommandEnvelope) -> None:
        if isinstance(command, CreateProduct):
            self._skus.release(
                Claim(sku=command.sku, product_id=command.product_id, command_id=envelope.command_id)
            )
