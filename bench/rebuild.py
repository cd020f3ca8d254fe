"""Rebuild speed against a baseline measured in the same run.

Seeds a throw-away database with products and their stock adjustments,
then, several times over: a baseline pass (the rebuild's own commit reads
and ``bulk_write`` of one document per stream, no projection logic) and a
real rebuild of ``products``, in turns (the order swapped every other
round).  The rebuild is timed twice: its replay alone, and from its start
to the switch (the claim of a new generation, the replay, the wait until
every process has seen the new pointer, the last pass, the switch), as the
queries see it; the whole call adds the wait before the old generation is
dropped.  Prints the median events/s of each and their ratios to the
baseline, and writes the rounds as JSON.  Uses MONGODB_URI / REDIS_URL when
set, else starts embedded ones.

    .venv/bin/python -m bench.rebuild [--products 2000] [--events 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
import uuid
from datetime import datetime
from pathlib import Path

from bench.stack import in_process
from domain.events import ProductCreated, StockAdjusted
from domain.streams import PRODUCT
from infra.commits import Commit
from infra.eventstore import EventStore


def seed(db, products: int, events: int, *, recorded_at: datetime | None = None) -> int:
    """``products`` products of ``events`` events each, one commit per event
    (recorded now, or at ``recorded_at``), written straight into the event
    store's collection: far faster than one append at a time."""
    commits = []
    for i in range(products):
        product_id = str(uuid.uuid4())
        created = ProductCreated(f"B-{i}", f"Item {i}", 100 + i, "EUR", None, "bench", 10)
        adjustments = [StockAdjusted(1, None) for _ in range(events - 1)]
        for n, batch in enumerate([[created], *([a] for a in adjustments)]):
            commit = Commit.new(
                stream_id=product_id, stream_type=PRODUCT, after_version=n, events=batch,
                command_id=str(uuid.uuid4()), correlation_id="bench",
            )  # fmt: skip
            if recorded_at is not None:
                commit = dataclasses.replace(commit, recorded_at=recorded_at)
            commits.append(commit)
    EventStore(db).import_commits(commits)
    return len(commits)


def main() -> None:
    from workers.rebuild import Rebuilder, baseline

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--events", type=int, default=10, help="events per product")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "rebuild.json"))
    args = parser.parse_args()

    with in_process() as (_, services):
        db = services.adapters.db
        started = time.monotonic()
        total = seed(db, args.products, args.events)
        print(f"seeded {args.products} products, {total} events in {time.monotonic() - started:.1f} s")
        rebuilder = Rebuilder(db, services.projector, services.adapters.generations, services.dead_letters)
        rounds = []
        for round_ in range(1, args.rounds + 1):
            # Alternate which goes first: the store's caches favour the second.
            measured: dict[str, float] = {}
            for variant in ("baseline", "rebuild") if round_ % 2 else ("rebuild", "baseline"):
                if variant == "baseline":
                    measured["baseline"] = baseline(db, "products", rebuilder.replay).events_per_s
                else:
                    started = time.monotonic()
                    rebuilt = rebuilder.rebuild("products")
                    measured["replay"] = rebuilt.events_per_s
                    measured["switched"] = rebuilt.events / rebuilt.switched_s
                    measured["switched_s"] = rebuilt.switched_s
                    measured["whole_s"] = time.monotonic() - started
            rounds.append(measured)
            print(
                f"round {round_}: baseline {measured['baseline']:,.0f} events/s, replay "
                f"{measured['replay']:,.0f}, begin to switch {measured['switched']:,.0f} "
                f"({measured['switched_s']:.2f} s; the whole call with the old generation's drop "
                f"{measured['whole_s']:.2f} s)"
            )
        median = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        print(
            f"median events/s: baseline {median['baseline']:,.0f}, replay {median['replay']:,.0f} "
            f"(ratio {median['replay'] / median['baseline']:.2f}), begin to switch "
            f"{median['switched']:,.0f} (ratio {median['switched'] / median['baseline']:.2f}, "
            f"{median['switched_s']:.2f} s); whole call {median['whole_s']:.2f} s"
        )
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"products": args.products, "events": total, "rounds": rounds}))


if __name__ == "__main__":
    main()
