"""Redis round trips per create on the happy path, as Redis counts them:
at most 5 for the whole stack (web's accept; the worker's fetch and its ack
carrying the handover; the projector's fetch and its ack carrying the
progress), even with creates one at a time, where no fetch is shared."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from urllib.parse import urlparse

from infra.mongo import connect
from infra.redisclient import connect_redis
from tests.redistrips import Monitor, client_ports

CREATES = 20
PER_CREATE = {"dramatiq fetch commands", "dramatiq fetch projections", "steps enqueue+finish+story+ack",
              "steps projected+story+ack"}  # fmt: skip


def create(stack) -> str:
    body = {"sku": f"RT-{uuid.uuid4().hex[:10]}", "name": "Trip", "price_cents": 100, "currency": "EUR"}
    response = stack.post("/products", json=body)
    assert response.status_code == 202, response.text
    return response.json()["product_id"]


def shown(db, product_id: str, timeout: float = 20.0) -> None:
    """Wait for the read model, reading the store itself: no Redis call."""
    deadline = time.monotonic() + timeout
    while db.products.find_one({"_id": product_id}, {"_id": 1}) is None:
        assert time.monotonic() < deadline, f"{product_id} never shown"
        time.sleep(0.005)


def test_a_create_costs_at_most_five_redis_round_trips(stack, capsys):
    db = connect(stack.settings, appname="tests-trips")
    client = connect_redis(stack.settings)
    redis_port = urlparse(stack.settings.redis_url).port or 6379
    try:
        for _ in range(3):  # warm: connections, scripts, pointer caches
            shown(db, create(stack))
        time.sleep(1.5)
        pids = [p.pid for p in stack.processes.values()]
        ports = client_ports(pids, redis_port)
        assert ports, "the stack's processes hold no Redis connection"
        monitor = Monitor(connect_redis(stack.settings)).start()
        try:
            idle_from = time.monotonic()
            time.sleep(3)
            busy_from = time.monotonic()
            for _ in range(CREATES):
                shown(db, create(stack))
            time.sleep(0.3)  # the last projection's ack follows its write
            busy_to = time.monotonic()
        finally:
            monitor.stop()
        ports |= client_ports(pids, redis_port)
        idle = monitor.trips(ports, idle_from, busy_from)
        busy = monitor.trips(ports, busy_from, busy_to)
    finally:
        client.close()
        db.client.close()
    # What a create costs: web's accept, each process's fetch from its
    # queue and its ack with what it hands over.  The rest comes with time,
    # not creates (delay-queue polls, maintenance, the outbox's lock, the
    # queue depth web reads once a second), and so do fetches at the end of
    # an idle consumer's wait: the idle rate of those is taken off.
    def per_create(trips) -> Counter:
        return Counter({k: n for k, n in trips.items() if k in PER_CREATE or k.startswith("script ")})

    idle_rate = sum(per_create(idle).values()) / (busy_from - idle_from)
    costs = per_create(busy)
    trips = (sum(costs.values()) - idle_rate * (busy_to - busy_from)) / CREATES
    with capsys.disabled():
        print(
            f"\nRedis round trips: {trips:.2f} per create ({CREATES} creates one at a time, "
            f"{idle_rate:.1f}/s idle taken off): {dict(costs.most_common())}; "
            f"besides, by time: {dict((busy - costs).most_common())}; idle: {dict(idle)}"
        )
    assert trips <= 5.0
    assert sum(n for k, n in busy.items() if k.startswith("script ")) == CREATES  # web's accept
    assert busy["steps enqueue+finish+story+ack"] == CREATES  # the worker's ack with its handover
    assert busy["steps projected+story+ack"] == CREATES  # the projector's ack with its progress
    assert busy["GET"] == 0  # no status read before the store's answer
