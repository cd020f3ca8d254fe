"""Exactly once, under faults: a seeded mixed load against the Procfile's
processes while workers and projectors are killed, Redis and the store
restart, a worker is paused past its heartbeat and messages arrive twice
and out of order; then every ``202`` is accounted for.

The short run here is part of ``make test``; ``make faults`` runs long ones
(``FAULT_SECONDS``, ``FAULT_SEEDS``: see the README)."""

from __future__ import annotations

import os
import threading
import time

import pytest
import requests

from tests.conftest import cleanup
from tests.faults.audit import audit, settle
from tests.faults.cluster import Cluster
from tests.faults.faults import Faults
from tests.faults.load import Ledger, run_load

SECONDS = float(os.environ.get("FAULT_SECONDS", "40"))
SEEDS = [int(seed) for seed in os.environ.get("FAULT_SEEDS", "1").split(",")]
#: Short heartbeats, so that a paused worker's messages come back within a short run.
HEARTBEAT_S = float(os.environ.get("FAULT_HEARTBEAT_S", "6"))
#: Each client's pause between requests: a burst in a short run, a rate the
#: embedded store sustains (faults included) in a long one.
PAUSE_S = float(os.environ.get("FAULT_PAUSE_S", "0.08"))
#: How long everything may take to settle once the load stops.  A long run
#: ends with a backlog (follow-ups backing off after outages, a store grown
#: slower with its data) that the embedded store works through at its pace.
SETTLE_S = float(os.environ.get("FAULT_SETTLE_S", max(240, SECONDS)))

pytestmark = [pytest.mark.faults, pytest.mark.timeout(int(SECONDS * 2 + SETTLE_S + 600))]


def create_hot_products(url: str, n: int = 4, stock: int = 30) -> tuple[list[str], list[str]]:
    ids, commands = [], []
    for i in range(n):
        body = {"sku": f"HOT-{i}", "name": "Hot mug", "price_cents": 1200, "currency": "EUR", "stock": stock}
        answer = requests.post(url + "/products", json=body, timeout=10).json()
        ids.append(answer["product_id"])
        commands.append(answer["command_id"])
    deadline = time.monotonic() + 60
    for command_id in commands:
        while requests.get(f"{url}/commands/{command_id}", timeout=10).json()["status"] == "accepted":
            assert time.monotonic() < deadline, "the hot products were not created"
            time.sleep(0.1)
    return ids, commands


@pytest.mark.parametrize("seed", SEEDS)
def test_every_accepted_command_takes_effect_exactly_once_under_faults(tmp_path, seed):
    cluster = Cluster(
        tmp_path,
        env={
            "WORKER_PROCESSES": "2",
            "WORKER_THREADS": "4",
            "PROJECTOR_THREADS": "4",
            "WORKER_HEARTBEAT_TIMEOUT": str(HEARTBEAT_S),
            "CATCH_UP_INTERVAL": "3",
        },
    )
    try:
        cluster.boot()
        hot, setup = create_hot_products(cluster.url)
        ledger = Ledger(products=list(hot), setup=set(setup))
        faults = Faults(cluster, seed=seed, heartbeat_s=HEARTBEAT_S)
        rounds = max(1, int(SECONDS // 120))  # a round of faults every two minutes
        injector = threading.Thread(target=faults.run, args=(SECONDS, rounds), name="faults", daemon=True)
        injector.start()
        run_load(cluster.url, ledger, hot, seed=seed, clients=4, seconds=SECONDS, pause_s=PAUSE_S)
        injector.join(SECONDS + 120)
        cluster.wait_all_up()
        _, left = settle(cluster, ledger, timeout=SETTLE_S)
        settled_s = time.time() - faults.log.last_at
        report = audit(cluster, ledger, faults.log)
        report.settled_s = settled_s
        print(f"\nseed {seed}, {SECONDS:.0f} s of load ({PAUSE_S} s pauses): {report.summary()}")
        for reason in faults.log.skipped:
            print(f"skipped: {reason}")
        assert not faults.log.broken, f"faults that could not be made: {faults.log.broken}"
        details = {
            name: getattr(report, name)[:5]
            for name in ("lost", "disagreeing", "leaked", "stuck", "gaps", "stories_open")
        }
        assert not left, f"did not settle: {left}\n{details}\n{cluster.tail()}"
        assert report.broken == dict.fromkeys(report.broken, 0), f"{details}\n{report.drift_output}"
        assert report.accepted > 100, "the load hardly ran"
        assert report.longest_redelivery_s is None or report.longest_redelivery_s < HEARTBEAT_S + 20
    finally:
        cluster.shutdown()
        if cluster.mongo is None:
            cleanup(cluster.settings)
