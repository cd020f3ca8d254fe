"""Rebuild read models from the event store, or check them for drift.

    python -m workers.rebuild products|orders|customer_orders|all [--quiet] [--baseline]
    python -m workers.rebuild --check [products|orders|customer_orders|all]

A rebuild replays every commit into a fresh *generation* of the read model
while the service runs, then switches queries to it in one pointer write:
no query sees a half-built model.  Projectors write each new commit to both
generations from the start of the rebuild (they see the new generation
within a second), and a last pass brings up any stream that moved during
the replay, so nothing committed meanwhile is lost or applied twice (every
write is conditional on the document's version).

A rebuild holds its generation by a lease (``REBUILD_LEASE``, 30 s) that
it renews every third of that and before every write.  ``--abandon`` ends
the lease: the rebuild stops at its next renewal, switches nothing and
drops its generation.  A rebuild whose process died leaves its lease to
lapse; then the next rebuild takes over, or the catch-up's
:func:`clean_up_lapsed` clears it, and projectors stop writing to it.

``customer_orders`` is served by the ``orders`` read model (by its
customer index): rebuilding it rebuilds ``orders``.

``--check`` replays into scratch collections, compares them with the live
read model, prints every difference, removes the scratch and exits 1 if
anything differs.  Streams held up by a dead letter are left out."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, InsertOne, ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from domain.events import event_from_dict
from infra import boot
from infra.eventstore import COMMITS_ONLY, EventStore
from infra.generations import READ_MODELS, Generations, LeaseLost
from infra.mongo import COMMITS, ORDERS, PRODUCTS, read_model_indexes
from infra.servers import environment_help, tool_settings
from infra.settings import Settings
from workers.deadletters import DeadLetters
from workers.projector import VIEWS, Projector

log = logging.getLogger(__name__)

ALIASES = {PRODUCTS: [PRODUCTS], ORDERS: [ORDERS], "customer_orders": [ORDERS], "all": [PRODUCTS, ORDERS]}
REBUILD = "rebuild"


@dataclass
class Report:
    name: str
    streams: int = 0
    events: int = 0
    seconds: float = 0.0
    stuck: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Replay:
    """Reads a stream type's commits in batches, stream by stream, and
    writes one document per stream with ``bulk_write``."""

    def __init__(self, db: Database, dead_letters: DeadLetters, *, batch_size: int = 500):
        self._db = db
        self._dead_letters = dead_letters
        self._batch_size = batch_size

    def count(self, stream_type: str) -> tuple[int, int]:
        """(streams, events) of ``stream_type`` in the store."""
        result = list(
            self._db[COMMITS].aggregate(
                [
                    {"$match": {"stream_type": stream_type, **COMMITS_ONLY}},
                    {"$group": {"_id": "$stream_id", "events": {"$max": "$version_to"}}},
                    {"$group": {"_id": None, "streams": {"$sum": 1}, "events": {"$sum": "$events"}}},
                ]
            )
        )
        return (result[0]["streams"], result[0]["events"]) if result else (0, 0)

    def streams(self, stream_type: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Each stream's commits, in order, read ``batch_size`` at a time."""
        cursor = self._db[COMMITS].find(
            {"stream_type": stream_type, **COMMITS_ONLY},
            sort=[("stream_id", ASCENDING), ("version_from", ASCENDING)],
            batch_size=self._batch_size,
        )
        stream_id, commits = None, []
        for commit in cursor:
            if commit["stream_id"] != stream_id and commits:
                yield stream_id, commits
                commits = []
            stream_id = commit["stream_id"]
            commits.append(commit)
        if commits:
            yield stream_id, commits

    def into(
        self,
        name: str,
        target: Collection,
        on_progress: Callable[[int, int], None] | None = None,
        *,
        guard: Callable[[], None] | None = None,
    ) -> Report:
        """Replay read model ``name`` into ``target``; ``guard`` is called
        before every write, and stops the replay by raising."""
        stream_type = READ_MODELS[name]
        _, view = VIEWS[stream_type]
        report = Report(name)
        started = time.monotonic()
        batch: list[dict[str, Any]] = []
        for stream_id, commits in self.streams(stream_type):
            doc, events, failure = self._fold(view, commits)
            report.streams += 1
            report.events += events
            if failure is not None:
                letter = self._dead_letters.record(
                    handler=REBUILD,
                    stream_id=stream_id,
                    stream_type=stream_type,
                    version=failure[0],
                    message={"stream_id": stream_id, "stream_type": stream_type},
                    error=failure[1],
                )
                report.stuck.append(stream_id)
                if doc is not None:
                    doc["stuck"] = letter
            if doc is not None:
                batch.append({"_id": stream_id, "id": stream_id, **doc})
            if len(batch) >= self._batch_size:
                if guard:
                    guard()
                write_batch(target, batch)
                batch = []
            if on_progress:
                on_progress(1, events)
        if batch:
            if guard:
                guard()
            write_batch(target, batch)
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _fold(view, commits) -> tuple[dict[str, Any] | None, int, tuple[int, Exception] | None]:
        """The document after every event it can apply, how many events the
        stream holds, and the first failure (version, error) if any."""
        state: dict[str, Any] | None = None
        events = commits[-1]["version_to"]  # versions run gapless from 1
        for commit in commits:
            for e in commit["events"]:
                try:
                    state = view(
                        state, event_from_dict(e["type"], e["data"]), e["version"], commit["recorded_at"]
                    )
                except Exception as exc:
                    return state, events, (e["version"], exc)
        return state, events, None


def write_batch(target: Collection, docs: list[dict[str, Any]]) -> None:
    """Insert the batch; where a projector got there first, replace only a
    document that is behind (every write is conditional on its version)."""
    try:
        target.bulk_write([InsertOne(doc) for doc in docs], ordered=False)
        return
    except BulkWriteError as exc:
        taken = {error["index"] for error in exc.details["writeErrors"] if error["code"] == 11000}
        others = [error for error in exc.details["writeErrors"] if error["code"] != 11000]
        if others:
            raise
    behind = [docs[i] for i in sorted(taken)]
    target.bulk_write(
        [ReplaceOne({"_id": doc["_id"], "version": {"$lt": doc["version"]}}, doc) for doc in behind],
        ordered=False,
    )


def baseline(db: Database, name: str, replay: Replay) -> Report:
    """Read the same commits in the same batches and bulk-write as many
    documents, without projecting: the floor a rebuild is measured against."""
    scratch = db[f"{name}__baseline_{uuid.uuid4().hex[:8]}"]
    report = Report(f"{name} (baseline)")
    started = time.monotonic()
    try:
        batch = []
        for stream_id, commits in replay.streams(READ_MODELS[name]):
            events = sum(len(c["events"]) for c in commits)
            report.streams += 1
            report.events += events
            batch.append(
                {"_id": stream_id, "id": stream_id, "version": commits[-1]["version_to"], "events": events}
            )
            if len(batch) >= replay._batch_size:
                write_batch(scratch, batch)
                batch = []
        if batch:
            write_batch(scratch, batch)
        report.seconds = time.monotonic() - started
    finally:
        scratch.drop()
    return report


class Lease:
    """A rebuild's hold on its generation, in the pointer document: renewed
    by a thread of its own every third of its length, and by the rebuild
    before each write (:meth:`renew` raises :class:`LeaseLost` once an
    abandon or a takeover ended it)."""

    def __init__(
        self,
        generations: Generations,
        name: str,
        generation: str,
        *,
        lease_s: float,
        clock: Callable[[], float],
    ):
        self._generations = generations
        self.name = name
        self.generation = generation
        self.owner = uuid.uuid4().hex
        self._lease_ms = int(lease_s * 1000)
        self._every_s = lease_s / 3
        self._clock = clock
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name=f"lease {generation}", daemon=True)

    def claim(self) -> str | None:
        """Take the pointer and start renewing; returns the generation of a
        lapsed rebuild taken over, or None.

        Raises:
          RuntimeError: another rebuild of the read model holds a live lease.
        """
        replaced = self._generations.begin(
            self.name, self.generation, owner=self.owner, now_ms=self._now_ms(), lease_ms=self._lease_ms
        )
        self._keeper.start()
        return replaced

    def renew(self) -> None:
        """Extend the lease by its length from now.

        Raises:
          LeaseLost: the rebuild was abandoned or taken over.
        """
        if not self._generations.renew(
            self.name, self.generation, owner=self.owner, now_ms=self._now_ms(), lease_ms=self._lease_ms
        ):
            raise LeaseLost(f"the rebuild of {self.generation} was abandoned or taken over")

    def release(self) -> None:
        """Stop renewing (the pointer is left as it is)."""
        self._stop.set()
        if self._keeper.is_alive() and self._keeper is not threading.current_thread():
            self._keeper.join()

    def _keep(self) -> None:
        failures = 0
        while not self._stop.wait(self._every_s):
            try:
                self.renew()
                failures = 0
            except LeaseLost:
                log.warning("%s: lease lost; the rebuild stops at its next write", self.generation)
                return
            except Exception:
                # The rebuild's own renewal before its next write finds out
                # too; after a whole lease without one, it has lapsed anyway.
                failures += 1
                log.exception("%s: could not renew the lease", self.generation)
                if failures >= 3:
                    return

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


class Rebuilder:
    def __init__(
        self,
        db: Database,
        projector: Projector,
        generations: Generations,
        dead_letters: DeadLetters,
        *,
        batch_size: int = 500,
        lease_s: float = Settings.rebuild_lease_s,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self._db = db
        self._projector = projector
        self._generations = generations
        self._replay = Replay(db, dead_letters, batch_size=batch_size)
        self._batch_size = batch_size
        self._lease_s = lease_s
        self._sleep = sleep
        self._clock = clock
        self._leases: dict[str, Lease] = {}

    @property
    def replay(self) -> Replay:
        return self._replay

    def begin(self, name: str) -> Collection:
        """Claim the pointer for a new generation under a lease, create it,
        and have projectors write to it too; drop the generation of a dead
        rebuild it took over.

        Raises:
          RuntimeError: another rebuild of ``name`` holds a live lease.
        """
        generation = f"{name}__{datetime.now(UTC):%Y%m%d%H%M%S}_{uuid.uuid4().hex[:6]}"
        lease = Lease(self._generations, name, generation, lease_s=self._lease_s, clock=self._clock)
        replaced = lease.claim()
        self._leases[name] = lease
        target = self._db[generation]
        try:
            read_model_indexes(target, name)
            # Every projector sees the new generation within the pointer's
            # TTL; after that, each commit reaches it through them or the
            # replay, and none writes to the generation it replaced.
            self._sleep(2 * self._generations.ttl_s)
        except BaseException:
            self._give_up(name, target)
            raise
        finally:
            if replaced is not None:
                log.warning("%s: took over from %s, whose rebuild's lease lapsed", name, replaced)
                drop_unless_named(self._db, self._generations, name, replaced)
        return target

    def settle(self, name: str, target: Collection, since_ms: int) -> int:
        """Bring up every stream committed since ``since_ms`` (epoch ms:
        integer ranges are exact on every server) that the new generation
        does not hold yet at its head (renewing the lease every batch of
        streams, when this rebuild holds one)."""
        stream_type = READ_MODELS[name]
        heads = EventStore(self._db).heads_recorded_since(since_ms, stream_type=stream_type)
        _, view = VIEWS[stream_type]
        lease = self._leases.get(name)
        moved = 0
        for seen, head in enumerate(heads):
            if lease is not None and seen % self._batch_size == 0:
                lease.renew()
            note = {"stream_id": head.stream_id, "stream_type": stream_type, "version_from": -1}
            try:
                if self._projector.project_into(target, view, {**note, "version_to": head.version}).changed:
                    moved += 1
            except Exception:
                log.exception("could not bring %s up in the new generation", head.stream_id)
        return moved

    def finish(self, name: str, target: Collection) -> str:
        """Switch queries to ``target``; drop the old generation once every
        process has seen the switch.

        Raises:
          LeaseLost: the rebuild was abandoned or taken over; ``target`` is
            dropped and nothing switched.
        """
        lease = self._leases.pop(name)
        lease.release()
        try:
            old = self._generations.switch(name, target.name, owner=lease.owner)
        except LeaseLost:
            drop_unless_named(self._db, self._generations, name, target.name, sleep=self._sleep)
            raise
        self._sleep(2 * self._generations.ttl_s)
        if old != target.name:
            self._db[old].drop()
        return old

    def abandon(self, name: str) -> str | None:
        """Give up the rebuild of ``name`` under way (or one that died):
        projectors stop writing to its generation, which is then dropped.
        A rebuild still running stops at its next renewal and drops it too,
        after its last write."""
        lease = self._leases.pop(name, None)
        if lease is not None:
            lease.release()
        building = self._generations.pointer(name, fresh=True)["building"]
        if building is None or not self._generations.abandon(name, building):
            return None
        drop_unless_named(self._db, self._generations, name, building, sleep=self._sleep)
        return building

    def rebuild(self, name: str, on_progress: Callable[[int, int], None] | None = None) -> Report:
        """Replay ``name`` into a new generation and switch queries to it.

        Raises:
          RuntimeError: another rebuild of ``name`` holds a live lease.
          LeaseLost: this rebuild was abandoned or taken over meanwhile; it
            stopped writing, switched nothing and dropped its generation.
        """
        # A minute of slack: commits recorded by clocks a little behind.
        since_ms = int((time.time() - 60) * 1000)
        target = self.begin(name)
        try:
            report = self._replay.into(name, target, on_progress, guard=self._leases[name].renew)
            self.settle(name, target, since_ms)
        except BaseException:
            self._give_up(name, target)
            raise
        self.finish(name, target)
        return report

    def _give_up(self, name: str, target: Collection) -> None:
        """Stop renewing, end the lease if it is still ours (never one that
        took over), and drop ``target`` once nothing writes to it."""
        lease = self._leases.pop(name, None)
        if lease is not None:
            lease.release()
            self._generations.abandon(name, target.name, owner=lease.owner)
        drop_unless_named(self._db, self._generations, name, target.name, sleep=self._sleep)


def drop_unless_named(
    db: Database,
    generations: Generations,
    name: str,
    generation: str,
    *,
    sleep: Callable[[float], None] | None = None,
) -> bool:
    """Drop ``generation`` of read model ``name``, which the pointer no
    longer names, after ``sleep``-ing out the pointer's TTL twice when given
    (a projector may still hold the old pointer: its write would bring the
    collection back).  Never drops what the pointer names."""
    if sleep is not None:
        sleep(2 * generations.ttl_s)
    pointer = generations.pointer(name, fresh=True)
    if generation in (pointer["active"], pointer["building"]):
        return False
    db[generation].drop()
    return True


def clean_up_lapsed(
    db: Database,
    generations: Generations | None = None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Clear every read model's generation whose rebuild's lease has lapsed
    (its process died), so projectors stop writing to it, and drop it.

    Safe to call from any number of processes at once: each generation is
    cleared by one conditional update, which one of them wins.  Costs one
    read per read model; only when it cleared something does it wait twice
    the pointer's TTL (2 s) before dropping.

    Returns:
      The generations cleared and dropped.
    """
    generations = generations or Generations(db)
    now_ms = int(clock() * 1000)
    cleared = [(name, g) for name in READ_MODELS if (g := generations.clear_lapsed(name, now_ms))]
    if cleared:
        sleep(2 * generations.ttl_s)
    for name, generation in cleared:
        log.warning("%s: cleared %s, whose rebuild's lease lapsed", name, generation)
        drop_unless_named(db, generations, name, generation)
    return [generation for _, generation in cleared]


# --- drift check ------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    stream_id: str
    field: str
    live: Any
    replayed: Any


class NoteOnly:
    """Dead letters for a check: noted, never stored, nothing marked stuck."""

    def __init__(self):
        self.streams: list[str] = []

    def record(self, *, stream_id, **_) -> str:
        self.streams.append(stream_id)
        return "check"


def check(
    db: Database,
    name: str,
    projector: Projector,
    generations: Generations,
    dead_letters: DeadLetters,
    *,
    second_look_s: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Difference]:
    """Replay ``name`` into a scratch collection and compare it with the live
    read model, stream by stream (streams with dead letters left out).

    A stream that differs is looked at again after ``second_look_s``, both
    sides brought to the store's head, so that a commit still on its way
    is not taken for drift while a document left behind still is.

    Raises:
      RuntimeError: a rebuild of ``name`` is under way.
    """
    if generations.pointer(name, fresh=True)["building"]:
        raise RuntimeError(f"{name} is being rebuilt; check it afterwards")
    scratch = db[f"{name}__check_{uuid.uuid4().hex[:8]}"]
    stream_type = READ_MODELS[name]
    _, view = VIEWS[stream_type]
    try:
        noted = NoteOnly()
        Replay(db, noted).into(name, scratch)  # type: ignore[arg-type]
        skip = dead_letters.stuck_streams() | set(noted.streams)
        suspects = {d.stream_id for d in compare(generations.active(name), scratch, skip)}
        if not suspects:
            return []
        sleep(second_look_s)
        heads = {
            head["_id"]: head["version"]
            for head in db[COMMITS].aggregate(
                [
                    {"$match": {"stream_id": {"$in": sorted(suspects)}, **COMMITS_ONLY}},
                    {"$group": {"_id": "$stream_id", "version": {"$max": "$version_to"}}},
                ]
            )
        }
        for stream_id, version in heads.items():
            note = {
                "stream_id": stream_id,
                "stream_type": stream_type,
                "version_from": -1,
                "version_to": version,
            }
            projector.project_into(scratch, view, note)
        return compare(generations.active(name), scratch, skip, only=suspects)
    finally:
        scratch.drop()


def compare(
    live: Collection, scratch: Collection, skip: set[str], only: set[str] | None = None
) -> list[Difference]:
    """Every field that differs between the two collections' documents."""
    query = {"_id": {"$in": sorted(only)}} if only is not None else {}
    replayed = {doc["_id"]: doc for doc in scratch.find(query)}
    differences: list[Difference] = []
    for doc in live.find(query):
        stream_id = doc["_id"]
        fresh = replayed.pop(stream_id, None)
        if stream_id in skip or doc.get("stuck"):
            continue
        if fresh is None:
            differences.append(Difference(stream_id, "(document)", "present", "absent"))
            continue
        for key in sorted(set(doc) | set(fresh)):
            if key in ("_id", "stuck") or doc.get(key) == fresh.get(key):
                continue
            differences.append(Difference(stream_id, key, doc.get(key), fresh.get(key)))
    differences += [
        Difference(stream_id, "(document)", "absent", "present")
        for stream_id in replayed
        if stream_id not in skip
    ]
    return differences


class StreamsAndEvents:
    """Feeds the progress bar: events as its count, streams beside it."""

    def __init__(self, bar, streams: int):
        self._bar = bar
        self._streams = streams
        self._done = 0

    def __call__(self, streams: int, events: int) -> None:
        self._done += streams
        self._bar.update(events)
        self._bar.set_postfix(streams=f"{self._done}/{self._streams}", refresh=False)


PROG = "python -m workers.rebuild"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog=environment_help(("REBUILD_LEASE", "seconds a rebuild holds its generation (default 30)")),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", choices=sorted(ALIASES), help="the read model")
    parser.add_argument("--check", action="store_true", help="compare the live read model with a replay")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--baseline", action="store_true", help="also time a replay without projection logic")
    parser.add_argument(
        "--abandon", action="store_true", help="give up a rebuild under way, or one that died"
    )
    args = parser.parse_args(argv)
    if args.name is None and not args.check:
        parser.error("name a read model to rebuild")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    with boot.one_line(prog):
        return run(args, tool_settings(prog))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from infra.broker import build_broker
    from infra.mongo import connect
    from workers.bootstrap import build_services

    db = connect(settings, appname="shop-rebuild")
    services = build_services(settings, build_broker(settings), db=db)
    generations = Generations(db)
    names = ALIASES[args.name or "all"]

    rebuilder = Rebuilder(
        db, services.projector, generations, services.dead_letters, lease_s=settings.rebuild_lease_s
    )
    if args.abandon:
        for name in names:
            dropped = rebuilder.abandon(name)
            print(f"{name}: abandoned {dropped}" if dropped else f"{name}: no rebuild under way")
        return 0

    if args.check:
        drift = 0
        for name in names:
            for difference in check(db, name, services.projector, generations, services.dead_letters):
                drift += 1
                print(
                    f"{name} {difference.stream_id} {difference.field}: "
                    f"live {difference.live!r}, replayed {difference.replayed!r}"
                )
        print(f"{drift} difference(s)" if drift else "no drift")
        return 1 if drift else 0

    for name in names:
        streams, events = rebuilder.replay.count(READ_MODELS[name])
        floor = baseline(db, name, rebuilder.replay) if args.baseline else None
        with tqdm(total=events, unit=" events", desc=f"rebuild {name}", disable=args.quiet) as bar:
            progress = StreamsAndEvents(bar, streams)
            try:
                report = rebuilder.rebuild(name, progress)
            except LeaseLost as exc:
                print(f"{name}: {exc}; stopped, nothing switched", file=sys.stderr)
                return 1
        print(
            f"rebuilt {name}: {report.streams} streams, {report.events} events in {report.seconds:.2f} s "
            f"({report.events_per_s:,.0f} events/s)"
            + (f"; {len(report.stuck)} stuck" if report.stuck else "")
        )
        if floor is not None:
            ratio = report.events_per_s / floor.events_per_s if floor.events_per_s else 0
            print(
                f"baseline (same reads and writes, no projection): {floor.events_per_s:,.0f} events/s; "
                f"rebuild/baseline {ratio:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
