"""Rebuild read models from the event store, or check them for drift.

    python -m workers.rebuild products|orders|customer_orders|all [--quiet] [--baseline]
    python -m workers.rebuild --check [products|orders|customer_orders|all]

A rebuild replays every commit into a fresh *generation* of the read model
while the service runs (workers/replay.py), then switches queries to it in
one pointer write: no query sees a half-built model.  Projectors write
each new commit to both generations from the start of the rebuild (they
see the new generation within a second), and a last pass brings up any
stream that moved during the replay, so nothing committed meanwhile is
lost or applied twice (every write is conditional on the document's
version).

A rebuild holds its generation by a lease (workers/lease.py).
``--abandon`` ends the lease: the rebuild stops at its next renewal,
switches nothing and drops its generation.

``customer_orders`` is served by the ``orders`` read model (by its
customer index): rebuilding it rebuilds ``orders``.

``--check`` replays into scratch collections, compares them with the live
read model, prints every difference, removes the scratch and exits 1 if
anything differs (workers/drift.py).  Streams held up by a dead letter are
left out."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from pymongo.collection import Collection
from pymongo.database import Database

from infra import boot
from infra.eventstore import EventStore
from infra.generations import Generations, LeaseLost
from infra.indexes import read_model_indexes
from infra.mongo import BY_NAME, ORDERS
from infra.servers import environment_help, tool_settings
from infra.settings import Settings
from workers.drift import check
from workers.lease import Lease, drop_unless_named
from workers.projector import Projector
from workers.replay import Letters, Replay, Report, baseline

log = logging.getLogger(__name__)

#: What the command line accepts: each read model by name, the customers'
#: order lists (served by ``orders``), and all of them.
ALIASES = {**{name: [name] for name in BY_NAME}, "customer_orders": [ORDERS], "all": list(BY_NAME)}


class Rebuilder:
    def __init__(
        self,
        db: Database,
        projector: Projector,
        generations: Generations,
        dead_letters: Letters,
        *,
        batch_size: int = 500,
        lease_s: float = Settings.rebuild_lease_s,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self._db = db
        self._projector = projector
        self._generations = generations
        self._store = EventStore(db)
        self._replay = Replay(self._store, projector, dead_letters, batch_size=batch_size)
        self._batch_size = batch_size
        self._lease_s = lease_s
        self._sleep = sleep
        self._clock = clock
        self._leases: dict[str, Lease] = {}
        #: name -> (when ``begin`` claimed the pointer, by time.monotonic;
        #: the generation of a dead rebuild it took over, if any)
        self._claimed: dict[str, tuple[float, str | None]] = {}

    @property
    def replay(self) -> Replay:
        return self._replay

    def begin(self, name: str) -> Collection:
        """Claim the pointer for a new generation under a lease and create
        it: projectors write to it too from the moment they see the pointer
        (``seen``).

        Raises:
          RuntimeError: another rebuild of ``name`` holds a live lease.
        """
        generation = f"{name}__{datetime.now(UTC):%Y%m%d%H%M%S}_{uuid.uuid4().hex[:6]}"
        lease = Lease(self._generations, name, generation, lease_s=self._lease_s, clock=self._clock)
        replaced = lease.claim()
        self._leases[name] = lease
        self._claimed[name] = (time.monotonic(), replaced)
        if replaced is not None:
            log.warning("%s: took over from %s, whose rebuild's lease lapsed", name, replaced)
        target = self._db[generation]
        try:
            read_model_indexes(target, name)
        except BaseException:
            self._give_up(name, target)
            self.seen(name)
            raise
        return target

    def seen(self, name: str) -> None:
        """Return once every process holds the pointer ``begin`` wrote:
        twice the pointer's TTL after it was written (the replay runs in the
        meantime, so one longer than that waits not at all).  From then on
        each commit reaches the new generation through the projectors or
        the last pass (``settle``), and none goes to the generation of a
        dead rebuild ``begin`` took over, which is dropped now."""
        claimed_at, replaced = self._claimed.pop(name, (None, None))
        if claimed_at is not None:
            self._sleep(max(0.0, claimed_at + 2 * self._generations.ttl_s - time.monotonic()))
        if replaced is not None:
            drop_unless_named(self._db, self._generations, name, replaced)

    def settle(self, name: str, target: Collection, since_ms: int) -> int:
        """Bring up every stream committed since ``since_ms`` (epoch ms:
        integer ranges are exact on every server) that the new generation
        does not hold yet at its head (renewing the lease every batch of
        streams, when this rebuild holds one)."""
        stream_type = BY_NAME[name].stream_type
        heads = self._store.heads(stream_type=stream_type, recorded_since_ms=since_ms)
        lease = self._leases.get(name)
        moved = 0
        for seen, head in enumerate(heads):
            if lease is not None and seen % self._batch_size == 0:
                lease.renew()
            try:
                if self._projector.bring_up_to_date(
                    stream_type, head.stream_id, head.version, into=target
                ).changed:
                    moved += 1
            except Exception:
                log.exception("could not bring %s up in the new generation", head.stream_id)
        return moved

    def finish(self, name: str, target: Collection) -> str:
        """Switch queries to ``target`` (``switch``), then drop the old
        generation once every process has seen the switch (``retire``)."""
        old = self.switch(name, target)
        self.retire(old, target)
        return old

    def switch(self, name: str, target: Collection) -> str:
        """Point queries at ``target``; the generation they read before.

        Raises:
          LeaseLost: the rebuild was abandoned or taken over; ``target`` is
            dropped and nothing switched.
        """
        self.seen(name)  # when the rebuild's own steps were skipped
        lease = self._leases.pop(name)
        lease.release()
        try:
            return self._generations.switch(name, target.name, owner=lease.owner)
        except LeaseLost:
            drop_unless_named(self._db, self._generations, name, target.name, sleep=self._sleep)
            raise

    def retire(self, old: str, target: Collection) -> None:
        """Drop ``old`` once no process can read or write it any more: twice
        the pointer's TTL after the switch.  (Only a registry of every
        process's pointer could tell sooner; queries see the new generation
        from the switch on, so this wait is the operator's alone.)"""
        self._sleep(2 * self._generations.ttl_s)
        if old != target.name:
            self._db[old].drop()

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
        started = time.monotonic()
        target = self.begin(name)
        try:
            report = self._replay.into(name, target, on_progress, guard=self._leases[name].renew)
            # The last pass looks for commits only once every projector
            # writes to the new generation too.
            self.seen(name)
            self.settle(name, target, since_ms)
        except BaseException:
            self._give_up(name, target)
            self.seen(name)
            raise
        old = self.switch(name, target)
        report = replace(report, switched_s=time.monotonic() - started)
        self.retire(old, target)
        return report

    def _give_up(self, name: str, target: Collection) -> None:
        """Stop renewing, end the lease if it is still ours (never one that
        took over), and drop ``target`` once nothing writes to it."""
        lease = self._leases.pop(name, None)
        if lease is not None:
            lease.release()
            self._generations.abandon(name, target.name, owner=lease.owner)
        drop_unless_named(self._db, self._generations, name, target.name, sleep=self._sleep)


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
    from workers.bootstrap import build_services

    services = build_services(settings, build_broker(settings), appname="shop-rebuild")
    db, generations = services.adapters.db, services.adapters.generations
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
        streams, events = rebuilder.replay.count(name)
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
            f"({report.events_per_s:,.0f} events/s), switched after {report.switched_s:.2f} s"
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
