"""Lag from ``202 Accepted`` to the read model showing the product, with idle
consumers woken by each enqueue (``CONSUMER_WAKEUPS=on``, the default)
against Dramatiq's polling (``off``), in the same run.

The Procfile's web, worker and projector run on embedded servers.  At each
rate, creates are sent open loop: each at its scheduled time, whatever the
previous ones are doing, and its lag is counted from that time (no
coordinated omission).  After its ``202``, a ``GET`` with ``after=`` and
``Prefer: wait`` answers as soon as the read model has the product, so no
polling adds load.  The variants alternate, round after round, and the
table gives medians over the rounds of each round's p50 / p99 / max.
Idle cost: Redis commands per second with the three processes idle.

    .venv/bin/python -m bench.lag [--rates 20,50] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

from bench.stack import ROOT, Stack, embedded, release
from infra.redisclient import connect_redis
from infra.settings import Settings

VARIANTS = ("on", "off")


def create_and_wait(session: requests.Session, url: str, due: float) -> float | None:
    """Sleep until ``due``, create a product, and return the seconds from
    ``due`` until the read model showed it (None if it did not in time)."""
    time.sleep(max(0.0, due - time.monotonic()))
    product = {
        "sku": f"LAG-{uuid.uuid4().hex[:12]}", "name": "Lag probe", "price_cents": 100,
        "currency": "EUR", "stock": 1,
    }  # fmt: skip
    accepted = session.post(url + "/products", json=product, timeout=10)
    if accepted.status_code != 202:
        return None
    body = accepted.json()
    shown = session.get(
        f"{url}/products/{body['product_id']}",
        params={"after": body["command_id"]},
        headers={"Prefer": "wait=10"},
        timeout=15,
    )
    if shown.status_code != 200 or shown.headers.get("Read-Model-Stale") == "true":
        return None
    return time.monotonic() - due


def load(url: str, rate: float, seconds: float) -> dict[str, float]:
    """Open-loop creates at ``rate`` per second for ``seconds``."""
    count = int(rate * seconds)
    start = time.monotonic() + 0.5
    local = threading.local()

    def one(i: int) -> float | None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return create_and_wait(local.session, url, start + i / rate)

    with ThreadPoolExecutor(max_workers=min(64, count)) as pool:
        lags = list(pool.map(one, range(count)))
    done = sorted(lag for lag in lags if lag is not None)
    if not done:
        return {"count": count, "missed": count}
    return {
        "count": count,
        "missed": count - len(done),
        "p50_ms": 1000 * done[len(done) // 2],
        "p99_ms": 1000 * done[min(len(done) - 1, int(len(done) * 0.99))],
        "max_ms": 1000 * done[-1],
    }


def idle_commands_per_s(client: redis.Redis, seconds: float) -> float:
    def calls() -> int:
        return sum(v["calls"] for k, v in client.info("commandstats").items() if k != "cmdstat_info")

    before = calls()
    time.sleep(seconds)
    return (calls() - before) / seconds


def median(rounds: list[dict], key: str) -> float | None:
    values = [r[key] for r in rounds if key in r]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="20,50", help="creates per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="of load at each rate")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle Redis counting")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "lag.json"))
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    results: dict[str, dict[str, list[dict]]] = {v: {"idle": []} for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp, embedded(Path(tmp)) as env:
        client = connect_redis(Settings.from_env(env))
        try:
            release(env)
            for round_ in range(1, args.rounds + 1):
                for variant in VARIANTS if round_ % 2 else reversed(VARIANTS):
                    stack = Stack({**env, "CONSUMER_WAKEUPS": variant}, Path(tmp), variant)
                    try:
                        stack.wait_until_serving()
                        load(stack.url, 5, 2)  # warm up: connections, imports, scripts
                        time.sleep(2)
                        results[variant]["idle"].append(
                            {"commands_per_s": idle_commands_per_s(client, args.idle)}
                        )
                        for rate in rates:
                            measured = load(stack.url, rate, args.seconds)
                            results[variant].setdefault(str(rate), []).append(measured)
                            print(f"round {round_} wakeups={variant} {rate:g}/s: {measured}", flush=True)
                    finally:
                        stack.stop()
        finally:
            client.close()

    print(f"\nlag from the scheduled send to the read model, medians of {args.rounds} rounds (ms)")
    header = ["rate", "wakeups on: p50 / p99 / max", "off (polling): p50 / p99 / max", "p99 off/on"]
    print(f"{header[0]:>8} | {header[1]:>30} | {header[2]:>32} | {header[3]}")
    for rate in rates:
        on, off = results["on"][str(rate)], results["off"][str(rate)]
        cells = [" / ".join(f"{median(r, k):.0f}" for k in ("p50_ms", "p99_ms", "max_ms")) for r in (on, off)]
        ratio = median(off, "p99_ms") / median(on, "p99_ms")
        print(f"{rate:>6g}/s | {cells[0]:>30} | {cells[1]:>32} | {ratio:.1f}x")
    idle = {v: median(results[v]["idle"], "commands_per_s") for v in VARIANTS}
    print(f"idle Redis commands/s: wakeups on {idle['on']:.1f}, off {idle['off']:.1f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rates": rates, "seconds": args.seconds, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
