"""What a product create costs here against the two peers a user might
pick instead, in the same run:

- ``project``: the Procfile's web, worker and projector (as deployed, on
  the embedded servers).  Creates are POSTed for the load's time; a create
  is done when the product is in the read model, so its rate is the
  products shown over the time from the first request until the last of
  the accepted ones shows; its CPU is that of every process over the same
  time (web, worker, projector, Redis, the store);
- ``pymongo``: a synchronous Falcon app (bench/apps.py) with the same
  gunicorn settings (the Procfile's web command line): the body validated
  with marshmallow, the product document inserted with pymongo (journaled,
  as the project's event store writes) into a database of its own on the
  same embedded store, with a unique index on ``sku``; 201.  CPU: web and
  store;
- ``eventsourcing``: the ``eventsourcing`` library (9.x) in this process,
  its SQLite persistence in a temporary file: an aggregate ``Product`` with
  the same fields created and saved through an ``Application``, one after
  another in one thread, a fixed count (no HTTP, no validation).  CPU: this
  process's.

The HTTP variants get the load of bench/accept.py (bench/load.py: keep-alive
connections in a closed loop for a fixed time, after a warm-up; every
request a SKU of its own; any other status than the variant's is an error).
Variants take turns, in the reverse order every other round; the table
gives medians over the rounds.  The project runs with ``MAX_QUEUE_DEPTH``
above what a run can queue, so that it queues every create it is sent.

``eventsourcing`` is a benchmark-only dependency (the ``bench`` extra); without
it that variant is skipped:

    .venv/bin/python -m pip install -e '.[bench]'
    .venv/bin/python -m bench.peers [--seconds 10] [--connections 32] [--count 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from pymongo import ASCENDING, MongoClient

from bench.accept import DEEP_ENOUGH
from bench.apps import web_command
from bench.load import creates, generator, listener_pid, tree_cpu_s
from bench.stack import ROOT, Stack, embedded, release
from infra.generations import Generations
from infra.mongo import PRODUCTS
from infra.redisclient import connect_redis
from infra.settings import Settings

HTTP_VARIANTS = ("project", "pymongo")
VARIANTS = (*HTTP_VARIANTS, "eventsourcing")


def with_database(uri: str, name: str) -> str:
    return uri.rsplit("/", 1)[0] + f"/{name}"


class Servers:
    """The embedded Redis and store processes, for their CPU time."""

    def __init__(self, env: dict[str, str]):
        client = connect_redis(Settings.from_env(env))
        try:
            self.redis = client.info("server")["process_id"]
        finally:
            client.close()
        self.store = listener_pid(urlsplit(env["MONGODB_URI"]).port)
        if self.store is None:
            raise RuntimeError("no process listens on the store's port")

    def cpu_s(self) -> dict[str, float]:
        return {"redis": tree_cpu_s(self.redis), "store": tree_cpu_s(self.store)}


def products(db) -> int:
    """Products in the project's read model."""
    return db[Generations(db).pointer(PRODUCTS, fresh=True)["active"]].count_documents({})


def shown(db, count: int, timeout: float) -> tuple[int, float]:
    """Wait until the read model shows ``count`` products (or stops growing
    for ``timeout`` seconds); the products shown and when the count was reached."""
    last, progressed = -1, time.monotonic()
    while True:
        now = products(db)
        if now >= count:
            return now, time.monotonic()
        if now > last:
            last, progressed = now, time.monotonic()
        elif time.monotonic() - progressed > timeout:
            return now, progressed
        time.sleep(0.2)


def project(env: dict[str, str], servers: Servers, logs: Path, label: str, args) -> dict:
    name = f"peers_{uuid.uuid4().hex[:8]}"
    run_env = {
        **env, "MONGODB_URI": with_database(env["MONGODB_URI"], name), "REDIS_NAMESPACE": name,
        "MAX_QUEUE_DEPTH": DEEP_ENOUGH,
    }  # fmt: skip
    release(run_env)
    client: MongoClient = MongoClient(run_env["MONGODB_URI"])
    db = client[name]
    stack = Stack(run_env, logs, label)
    try:
        stack.wait_until_serving()
        warm = creates(stack.url, seconds=args.warmup, connections=args.connections, expected=202,
                       prefix=f"{label}-warm")  # fmt: skip
        shown(db, warm["requests"] - warm["errors"], args.drain_timeout)
        time.sleep(1.0)
        before = {**servers.cpu_s(), **{n: stack.cpu_s(n) for n in stack.processes}}
        already = products(db)
        started = time.monotonic()
        result = creates(
            stack.url, seconds=args.seconds, connections=args.connections, expected=202, prefix=label
        )
        accepted = result["requests"] - result["unexpected_status"]
        count, done_at = shown(db, already + accepted, args.drain_timeout)
        after = {**servers.cpu_s(), **{n: stack.cpu_s(n) for n in stack.processes}}
    finally:
        stack.stop()
        client.drop_database(name)
        client.close()
    made = count - already
    cpu = {n: after[n] - before[n] for n in before}
    result.update(
        creates=made,
        missing=max(0, accepted - made),
        creates_per_s=made / (done_at - started),
        drain_s=done_at - started - result["seconds"],
        cpu_s=cpu,
        cpu_ms_per_create={n: 1000 * v / max(1, made) for n, v in cpu.items()},
        cpu_ms_per_create_total=1000 * sum(cpu.values()) / max(1, made),
    )
    return result


def peer(env: dict[str, str], servers: Servers, logs: Path, label: str, args) -> dict:
    name = f"peer_{uuid.uuid4().hex[:8]}"
    run_env = {**env, "MONGODB_URI": with_database(env["MONGODB_URI"], name)}
    client: MongoClient = MongoClient(run_env["MONGODB_URI"])
    client[name]["products"].create_index([("sku", ASCENDING)], unique=True)
    stack = Stack(
        run_env, logs, label, names=("web",), commands={"web": web_command("bench.apps:pymongo_app()")}
    )
    try:
        stack.wait_until_serving()
        creates(stack.url, seconds=args.warmup, connections=args.connections, expected=201,
                prefix=f"{label}-warm")  # fmt: skip
        time.sleep(1.0)
        before = {**servers.cpu_s(), "web": stack.cpu_s("web")}
        result = creates(
            stack.url, seconds=args.seconds, connections=args.connections, expected=201, prefix=label
        )
        after = {**servers.cpu_s(), "web": stack.cpu_s("web")}
    finally:
        stack.stop()
        client.drop_database(name)
        client.close()
    made = result["requests"] - result["unexpected_status"]
    cpu = {n: after[n] - before[n] for n in ("web", "store")}
    result.update(
        creates=made,
        creates_per_s=made / result["seconds"],
        cpu_s=cpu,
        cpu_ms_per_create={n: 1000 * v / max(1, made) for n, v in cpu.items()},
        cpu_ms_per_create_total=1000 * sum(cpu.values()) / max(1, made),
    )
    return result


def eventsourced(count: int, tmp: Path) -> dict | None:
    try:
        from bench.eventsourced import sqlite_catalog
    except ImportError:
        return None
    path = tmp / f"eventsourcing-{uuid.uuid4().hex[:8]}.sqlite"
    catalog = sqlite_catalog(str(path))
    prefix = uuid.uuid4().hex[:8]

    def create(n: int) -> None:
        catalog.create_product(
            sku=f"E-{prefix}-{n}", name="Bench product", price_cents=100, currency="EUR", stock=1
        )

    for n in range(min(200, count)):  # warm-up
        create(-n - 1)
    me = psutil.Process()
    cpu_before, started = sum(me.cpu_times()[:2]), time.monotonic()
    for n in range(count):
        create(n)
    seconds, cpu = time.monotonic() - started, sum(me.cpu_times()[:2]) - cpu_before
    catalog.close()
    path.unlink(missing_ok=True)
    return {
        "creates": count,
        "seconds": seconds,
        "creates_per_s": count / seconds,
        "cpu_s": {"process": cpu},
        "cpu_ms_per_create": {"process": 1000 * cpu / count},
        "cpu_ms_per_create_total": 1000 * cpu / count,
    }


def median(rounds: list[dict], key: str) -> float | None:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def cell(value: float | None, spec: str) -> str:
    return format("-", f">{spec.split('.')[0]}") if value is None else format(value, spec)


def table(results: dict[str, list[dict]]) -> list[str]:
    lines = [
        f"{'variant':<13} | {'creates/s':>9} | {'req/s':>7} | {'p99 ms':>7} | {'errors':>6} | "
        f"{'CPU ms per create':>17} | where"
    ]
    for variant in VARIANTS:
        rounds = results[variant]
        if not rounds:
            lines.append(f"{variant:<13} | skipped")
            continue
        parts = {n: statistics.median(r["cpu_ms_per_create"][n] for r in rounds) for n in rounds[0]["cpu_s"]}
        where = ", ".join(f"{n} {v:.2f}" for n, v in parts.items())
        errors = sum(r.get("errors", 0) + r.get("missing", 0) for r in rounds)
        lines.append(
            f"{variant:<13} | {cell(median(rounds, 'creates_per_s'), '9.0f')} | "
            f"{cell(median(rounds, 'per_s'), '7.0f')} | {cell(median(rounds, 'p99_ms'), '7.1f')} | "
            f"{errors:>6} | {median(rounds, 'cpu_ms_per_create_total'):>17.2f} | {where}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="of HTTP load per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--count", type=int, default=5000, help="eventsourcing creates per round")
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0,
        help="seconds the project's read model may go without a new product before the round gives up",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "peers.json"))
    args = parser.parse_args()

    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp, embedded(Path(tmp)) as env:
        servers = Servers(env)
        for round_ in range(1, args.rounds + 1):
            for variant in VARIANTS if round_ % 2 else reversed(VARIANTS):
                label = f"{variant}-r{round_}-{uuid.uuid4().hex[:6]}"
                if variant == "project":
                    measured = project(env, servers, Path(tmp), label, args)
                elif variant == "pymongo":
                    measured = peer(env, servers, Path(tmp), label, args)
                else:
                    measured = eventsourced(args.count, Path(tmp))
                    if measured is None:
                        print("eventsourcing is not installed (the bench extra): skipped", flush=True)
                        continue
                results[variant].append(measured)
                summary = {k: round(v, 2) for k, v in measured.items() if isinstance(v, float | int)}
                print(f"round {round_} {variant}: {summary}", flush=True)
                if measured.get("first_unexpected"):
                    print(f"  first unexpected answer: {measured['first_unexpected']}", flush=True)

    print(
        f"\nproduct creates, {args.connections} connections for {args.seconds:g} s ({generator()} load) "
        f"or {args.count} in one thread (eventsourcing); medians of {args.rounds} rounds"
    )
    for line in table(results):
        print(line)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "seconds": args.seconds, "warmup": args.warmup, "connections": args.connections, "count": args.count,
        "rounds": args.rounds, "generator": generator(),
        "commands": {"project": "the Procfile", "pymongo": web_command("bench.apps:pymongo_app()")},
    }  # fmt: skip
    out.write_text(json.dumps({"settings": settings, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
