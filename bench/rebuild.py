"""Rebuild speed against a baseline measured in the same run.

Seeds a throw-away database with products and their stock adjustments,
then, several times over: a baseline pass (the rebuild's own commit reads
and ``bulk_write`` of one document per stream, no projection logic) and a
real rebuild of ``products``.  Prints the median events/s of each and their
ratio.  Uses MONGODB_URI / REDIS_URL when set, else starts embedded ones.

    .venv/bin/python -m bench.rebuild [--products 2000] [--events 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from domain.events import ProductCreated, StockAdjusted
from domain.streams import PRODUCT
from infra.commits import Commit
from infra.embedded import env_with_servers
from infra.eventstore import EventStore
from infra.indexes import ensure_indexes
from infra.settings import Settings


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
    from infra.broker import build_broker
    from workers.bootstrap import build_services
    from workers.rebuild import Rebuilder, baseline

    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--events", type=int, default=10, help="events per product")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env, servers = env_with_servers(dict(os.environ), Path(tmp))
        try:
            database = f"bench_{uuid.uuid4().hex[:8]}"
            uri = env["MONGODB_URI"].rsplit("/", 1)[0] + f"/{database}"
            settings = Settings.from_env({**env, "MONGODB_URI": uri, "REDIS_NAMESPACE": database})
            services = build_services(settings, build_broker(settings), appname="bench")
            db = services.adapters.db
            try:
                ensure_indexes(db)
                started = time.monotonic()
                total = seed(db, args.products, args.events)
                print(
                    f"seeded {args.products} products, {total} events in {time.monotonic() - started:.1f} s"
                )
                rebuilder = Rebuilder(
                    db, services.projector, services.adapters.generations, services.dead_letters
                )
                floors, rebuilds = [], []
                for round_ in range(1, args.rounds + 1):
                    floor = baseline(db, "products", rebuilder.replay)
                    rebuilt = rebuilder.rebuild("products")
                    floors.append(floor.events_per_s)
                    rebuilds.append(rebuilt.events_per_s)
                    print(
                        f"round {round_}: baseline {floor.events_per_s:,.0f} events/s, "
                        f"rebuild {rebuilt.events_per_s:,.0f} events/s"
                    )
                base, real = statistics.median(floors), statistics.median(rebuilds)
                print(
                    f"median: baseline {base:,.0f} events/s, rebuild {real:,.0f} events/s, "
                    f"ratio {real / base:.2f}"
                )
            finally:
                db.client.drop_database(database)
                db.client.close()
        finally:
            for server in reversed(servers):
                server.stop()


if __name__ == "__main__":
    main()
