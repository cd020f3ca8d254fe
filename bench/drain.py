"""Drain of queued creates by the Procfile's worker: throughput and the
worker's CPU per command, in the same run for three variants: one worker
process at LOG_LEVEL=INFO and at WARNING (what logging still costs a
command), and two worker processes (``WORKER_PROCESSES=2``) at INFO (what
a second process buys, and what saturates then).

The worker starts and settles idle; then the creates are queued straight
through the command bus (as web queues them, faster than the worker takes
them) and the clock runs until every command has its final status.  CPU is
measured over that time for the worker's process tree, the store and
Redis (psutil), as CPU per command and as the share of one core each kept
busy: a process near 100 % is what saturates.  No projector runs, so what
is measured is the command side alone.

    .venv/bin/python -m bench.drain [--commands 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from honcho.environ import parse_procfile

from bench.stack import cpu_s, tree
from domain.commands import CreateProduct
from infra.broker import build_broker
from infra.commandbus import CommandBus
from infra.embedded import env_with_servers
from infra.idempotency import IdempotencyKeys
from infra.indexes import ensure_indexes
from infra.messages import CommandEnvelope
from infra.mongo import connect
from infra.redisclient import connect_redis
from infra.settings import Settings
from infra.statuses import FINAL, CommandStatuses

ROOT = Path(__file__).resolve().parents[1]
PROCFILE = parse_procfile((ROOT / "Procfile").read_text()).processes
#: (LOG_LEVEL, WORKER_PROCESSES)
VARIANTS = (("INFO", 1), ("WARNING", 1), ("INFO", 2))


def label(variant: tuple[str, int]) -> str:
    level, processes = variant
    return f"{processes} process{'es' if processes > 1 else ''}, LOG_LEVEL={level}"


def queue_creates(settings: Settings, count: int) -> list[str]:
    client = connect_redis(settings)
    statuses = CommandStatuses(client, namespace=settings.redis_namespace, ttl_s=3600)
    bus = CommandBus(
        build_broker(settings), statuses, IdempotencyKeys(client, namespace=settings.redis_namespace),
        max_depth=count + 1,
    )  # fmt: skip
    ids = []
    for i in range(count):
        product_id = str(uuid.uuid4())
        command = CreateProduct(product_id, f"D-{uuid.uuid4().hex[:12]}", f"Item {i}", 100, "EUR", stock=1)
        envelope = CommandEnvelope.wrap(command, command_id=str(uuid.uuid4()))
        bus.submit(envelope, {"command_id": envelope.command_id})
        ids.append(envelope.command_id)
    return ids


def settled(process: psutil.Process, timeout: float = 30.0) -> None:
    """Wait until the worker's start-up is over (its CPU use goes quiet)."""
    deadline = time.monotonic() + timeout
    time.sleep(1.0)
    while time.monotonic() < deadline:
        before = cpu_s(tree(process))
        time.sleep(0.5)
        if cpu_s(tree(process)) - before < 0.05:
            return
    raise RuntimeError("the worker did not settle")


def drain(
    env: dict[str, str], settings: Settings, count: int, variant: tuple[str, int], logs: Path, servers
) -> dict:
    level, processes = variant
    statuses = CommandStatuses(connect_redis(settings), namespace=settings.redis_namespace, ttl_s=3600)
    worker = subprocess.Popen(
        ["sh", "-c", PROCFILE["worker"]], cwd=ROOT,
        env={**env, "LOG_LEVEL": level, "WORKER_PROCESSES": str(processes)},
        stdout=open(logs / f"worker-{level}-{processes}.log", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    others = {server.name: psutil.Process(server.pid) for server in servers}
    try:
        handle = psutil.Process(worker.pid)
        settled(handle)
        cpu_before = cpu_s(tree(handle))
        others_before = {name: cpu_s(tree(p)) for name, p in others.items()}
        started = time.monotonic()
        ids = queue_creates(settings, count)
        remaining = set(ids)
        while remaining:
            records = statuses.many(list(remaining)[:500])
            remaining -= {i for i, r in records.items() if r["status"] in FINAL}
            if time.monotonic() - started > 600:
                raise RuntimeError(f"{len(remaining)} commands not done after 600 s")
            time.sleep(0.05)
        seconds = time.monotonic() - started
        cpu = cpu_s(tree(handle)) - cpu_before
        busy = {name: cpu_s(tree(p)) - others_before[name] for name, p in others.items()}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
    return {
        "seconds": seconds,
        "per_s": count / seconds,
        "cpu_ms_per_command": 1000 * cpu / count,
        "cpu_percent": {"worker": 100 * cpu / seconds, **{n: 100 * c / seconds for n, c in busy.items()}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "drain.json"))
    args = parser.parse_args()
    results: dict[str, list[dict]] = {label(variant): [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        env, servers = env_with_servers(dict(os.environ), Path(tmp))
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        try:
            for round_ in range(1, args.rounds + 1):
                for variant in VARIANTS if round_ % 2 else reversed(VARIANTS):
                    name = f"drain_{uuid.uuid4().hex[:8]}"
                    uri = env["MONGODB_URI"].rsplit("/", 1)[0] + f"/{name}"
                    run_env = {**env, "MONGODB_URI": uri, "REDIS_NAMESPACE": name}
                    settings = Settings.from_env(run_env)
                    db = connect(settings, appname="bench")
                    try:
                        ensure_indexes(db)
                        measured = drain(run_env, settings, args.commands, variant, Path(tmp), servers)
                    finally:
                        db.client.drop_database(name)
                        db.client.close()
                    results[label(variant)].append(measured)
                    print(f"round {round_} {label(variant)}: {measured}", flush=True)
        finally:
            for server in reversed(servers):
                server.stop()
    print(f"\n{args.commands} queued creates drained, medians of {args.rounds} rounds")
    medians = {}
    for name, rounds in results.items():
        per_s = medians[name] = statistics.median(r["per_s"] for r in rounds)
        cpu = statistics.median(r["cpu_ms_per_command"] for r in rounds)
        busy = ", ".join(
            f"{part} {statistics.median(r['cpu_percent'][part] for r in rounds):.0f} %"
            for part in rounds[0]["cpu_percent"]
        )
        print(f"{name:<32} {per_s:6.0f} commands/s   worker CPU {cpu:.2f} ms per command   busy: {busy}")

    def cpu_of(variant):
        return statistics.median(r["cpu_ms_per_command"] for r in results[label(variant)])

    info, warning, two = VARIANTS
    logging_share = 100 * (cpu_of(info) / cpu_of(warning) - 1)
    print(f"logging at INFO costs {logging_share:+.0f} % of a command's worker CPU")
    print(f"2 processes / 1: {medians[label(two)] / medians[label(info)]:.2f}x the commands per second")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"commands": args.commands, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
