"""Drain of queued creates by the Procfile's worker: throughput and the
worker's CPU per command, at LOG_LEVEL=INFO against WARNING in the same run
(what logging still costs a command).

One worker process starts and settles idle; then the creates are queued
straight through the command bus (as web queues them, faster than one
worker takes them) and the clock runs until every command has its final
status.  CPU is the worker's process tree (psutil) over that time.

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
LEVELS = ("INFO", "WARNING")


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


def drain(env: dict[str, str], settings: Settings, count: int, level: str, logs: Path) -> dict:
    statuses = CommandStatuses(connect_redis(settings), namespace=settings.redis_namespace, ttl_s=3600)
    worker = subprocess.Popen(
        ["sh", "-c", PROCFILE["worker"]], cwd=ROOT, env={**env, "LOG_LEVEL": level},
        stdout=open(logs / f"worker-{level}.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        handle = psutil.Process(worker.pid)
        settled(handle)
        cpu_before = cpu_s(tree(handle))
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
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
    return {"seconds": seconds, "per_s": count / seconds, "cpu_ms_per_command": 1000 * cpu / count}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "drain.json"))
    args = parser.parse_args()
    results: dict[str, list[dict]] = {level: [] for level in LEVELS}
    with tempfile.TemporaryDirectory() as tmp:
        env, servers = env_with_servers(dict(os.environ), Path(tmp))
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        try:
            for round_ in range(1, args.rounds + 1):
                for level in LEVELS if round_ % 2 else reversed(LEVELS):
                    name = f"drain_{uuid.uuid4().hex[:8]}"
                    uri = env["MONGODB_URI"].rsplit("/", 1)[0] + f"/{name}"
                    run_env = {**env, "MONGODB_URI": uri, "REDIS_NAMESPACE": name}
                    settings = Settings.from_env(run_env)
                    db = connect(settings, appname="bench")
                    try:
                        ensure_indexes(db)
                        measured = drain(run_env, settings, args.commands, level, Path(tmp))
                    finally:
                        db.client.drop_database(name)
                        db.client.close()
                    results[level].append(measured)
                    print(f"round {round_} LOG_LEVEL={level}: {measured}", flush=True)
        finally:
            for server in reversed(servers):
                server.stop()
    print(f"\n{args.commands} creates through one worker process, medians of {args.rounds} rounds")
    for level in LEVELS:
        per_s = statistics.median(r["per_s"] for r in results[level])
        cpu = statistics.median(r["cpu_ms_per_command"] for r in results[level])
        print(f"LOG_LEVEL={level:<8} {per_s:8.0f} commands/s   worker CPU {cpu:.2f} ms per command")
    info = statistics.median(r["cpu_ms_per_command"] for r in results["INFO"])
    warning = statistics.median(r["cpu_ms_per_command"] for r in results["WARNING"])
    print(f"logging at INFO costs {100 * (info / warning - 1):+.0f} % of a command's worker CPU")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"commands": args.commands, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
