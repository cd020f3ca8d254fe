"""A command's latency as its stream grows, with snapshots and without, in
the same run.

For each stream length (10, 1,000 and 10,000 events by default) two
product streams are seeded as stored commits (one event each, as most
commands make), one per variant: ``snapshots`` (a snapshot every 100
events, the default) and ``none`` (``SNAPSHOT_EVERY_PRODUCT=0``: every load
replays the whole stream).  Then, in rounds that alternate the variants,
``--commands`` stock adjustments are handled one after another on each
stream, each by a command handler that remembers nothing of its own last
load (as a worker process's first command on a stream, or one of many
processes), and each timed from the handler's call to its return: load,
decide, append, and the status and notification handed to Redis.  The
first command of each stream is not timed: without a snapshot yet, it
replays everything and keeps one.

Prints the median latency per length and variant, the ratio of the
longest stream's median to the shortest's (the goal with snapshots: within
1.2x), and the events each load read.  Uses MONGODB_URI / REDIS_URL when
set, else starts embedded ones.

    .venv/bin/python -m bench.snapshots [--lengths 10,1000,10000] [--commands 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path

from bench.stack import in_process
from domain.commands import AdjustStock
from domain.events import ProductCreated, StockAdjusted
from infra.commits import Commit
from infra.eventstore import EventStore
from infra.handover import Handover
from infra.messages import CommandEnvelope
from infra.snapshots import Snapshots
from workers.handler import CommandHandler

VARIANTS = {"snapshots": 100, "none": 0}


class CountingStore(EventStore):
    def __init__(self, db):
        super().__init__(db)
        self.read: list[int] = []

    def load(self, stream_id, after_version=0):
        commits = super().load(stream_id, after_version)
        self.read.append(sum(len(c.events) for c in commits))
        return commits


def seed(store: EventStore, stream_id: str, events: int) -> None:
    created = ProductCreated("S-" + stream_id[:8], "Mug", 100, "EUR", None, None, 0)
    commits = [
        Commit.new(
            stream_id=stream_id,
            stream_type="product",
            after_version=version,
            events=[created if version == 0 else StockAdjusted(delta=1, reason=None)],
            command_id=f"seed-{stream_id}-{version}",
            correlation_id="seed",
        )
        for version in range(events)
    ]
    store.import_commits(commits)


def main() -> None:

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", default="10,1000,10000", help="stream lengths, in events")
    parser.add_argument("--commands", type=int, default=30, help="timed commands per stream and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "snapshots.json"))
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]

    with in_process() as (broker, services):
        db = services.adapters.db
        store = CountingStore(db)
        streams = {(n, v): str(uuid.uuid4()) for n in lengths for v in VARIANTS}
        started = time.monotonic()
        for (n, _), stream_id in streams.items():
            seed(store, stream_id, n)
        print(f"seeded {len(streams)} streams in {time.monotonic() - started:.1f} s", flush=True)
        statuses = services.adapters.statuses

        def handler(every: int) -> CommandHandler:
            return CommandHandler(
                store,
                services.adapters.skus,
                Handover(broker, statuses),
                statuses,
                snapshots=Snapshots(db),
                snapshot_every={"product": every},
                remembered=0,
            )

        def command(stream_id: str) -> CommandEnvelope:
            return CommandEnvelope.wrap(AdjustStock(stream_id, 1), command_id=str(uuid.uuid4()))

        for (_, variant), stream_id in streams.items():  # the untimed first command
            handler(VARIANTS[variant]).handle(command(stream_id))
        timings: dict[tuple[int, str], list[float]] = {key: [] for key in streams}
        reads: dict[tuple[int, str], list[int]] = {key: [] for key in streams}
        for round_ in range(1, args.rounds + 1):
            order = list(VARIANTS) if round_ % 2 else list(reversed(VARIANTS))
            for variant in order:
                for n in lengths:
                    stream_id = streams[(n, variant)]
                    for _ in range(args.commands):
                        envelope = command(stream_id)
                        handling = handler(VARIANTS[variant])
                        begun = time.perf_counter()
                        outcome = handling.handle(envelope)
                        timings[(n, variant)].append(time.perf_counter() - begun)
                        reads[(n, variant)].append(store.read[-1])
                        assert outcome.status == "succeeded", outcome
            print(f"round {round_} done", flush=True)

    print(f"\nAdjustStock on one product stream, {args.commands} x {args.rounds} commands per cell, ms")
    print(f"{'events':>8} | {'snapshots: median':>17} | {'p90':>6} | {'max read':>8} | "
          f"{'none: median':>12} | {'p90':>6} | {'max read':>8}")  # fmt: skip
    medians = {}
    for n in lengths:
        cells = []
        for variant in VARIANTS:
            ms = sorted(1000 * t for t in timings[(n, variant)])
            medians[(n, variant)] = statistics.median(ms)
            p90 = ms[int(0.9 * (len(ms) - 1))]
            width = 17 if variant == "snapshots" else 12
            cells.append(f"{medians[(n, variant)]:>{width}.2f} | {p90:>6.2f} | {max(reads[(n, variant)]):>8}")
        print(f"{n:>8} | " + " | ".join(cells))
    shortest, longest = min(lengths), max(lengths)
    ratios = {v: medians[(longest, v)] / medians[(shortest, v)] for v in VARIANTS}
    print(
        f"longest / shortest median: snapshots {ratios['snapshots']:.2f}x (goal within 1.2x), "
        f"none {ratios['none']:.2f}x"
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "settings": vars(args),
                "timings_ms": {f"{n}/{v}": [1000 * t for t in ts] for (n, v), ts in timings.items()},
                "events_read": {f"{n}/{v}": r for (n, v), r in reads.items()},
                "ratios_longest_over_shortest": ratios,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
