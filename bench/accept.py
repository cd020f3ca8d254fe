"""The accept path: how many creates per second the Procfile's web answers
``202`` to, and at what latency and CPU per request, against two floors
served with the same gunicorn settings (the Procfile's web command line:
its config file, worker class, workers and threads), in the same run:

- ``project``: the Procfile's web itself, ``POST /products`` (no worker
  runs: the commands just queue);
- ``bare``: a bare Falcon app (bench/apps.py) doing only what any such
  service must: parse the JSON, validate it with a marshmallow schema of
  the same fields, send a Dramatiq message to a Redis broker on the same
  embedded Redis, answer 202 with a small JSON body;
- ``json``: parse the body and answer 202.

Load (bench/load.py): a fixed number of keep-alive connections in a closed
loop for a fixed time, after a warm-up; ``wrk`` if installed (Debian's
``wrk``), else Python client processes.  Every request creates a product
with a SKU of its own; any answer but 202 is an error.  Before each
measurement Redis is emptied and its append-only file rewritten, so every
variant starts from the same Redis.  CPU per request is the web process
tree's (gunicorn's master and workers) and the Redis server's, over the
measurement.  The project's web runs with ``MAX_QUEUE_DEPTH`` above what a
run can queue (it checks the depth all the same), so that it answers 202
rather than 503 once ten thousand commands wait.

With ``--compare PATH`` (a git worktree of other code, as for
``bench.endtoend``), a fourth variant, ``compare``, is that checkout's
Procfile web, measured the same way in the same run: the accept path
before and after a change.

The variants take turns, their order reversed every other round; the table
gives medians over the rounds.  On a small machine the load generator
shares the cores with the servers: its CPU is in the results.

    .venv/bin/python -m bench.accept [--seconds 10] [--connections 32] [--rounds 3] [--compare PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import redis

from bench.apps import web_command
from bench.load import creates, generator
from bench.stack import ROOT, Stack, check_imports, cpu_s, embedded, procfile
from infra.redisclient import connect_redis
from infra.settings import Settings

VARIANTS = ("project", "bare", "json")
#: What gunicorn serves for each variant (None: the Procfile's web as it is).
TARGETS = {"project": None, "bare": "bench.apps:bare()", "json": "bench.apps:json_only()", "compare": None}
#: Above any count of commands one run can queue.
DEEP_ENOUGH = "100000000"


def web_commands(variant: str) -> dict[str, str] | None:
    target = TARGETS[variant]
    return None if target is None else {"web": web_command(target)}


def reset(client: redis.Redis, timeout: float = 60.0) -> None:
    """Empty Redis and rewrite its append-only file (then all but empty)."""
    client.flushdb()
    client.bgrewriteaof()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        persistence = client.info("persistence")
        if not persistence["aof_rewrite_in_progress"] and not persistence["aof_rewrite_scheduled"]:
            return
        time.sleep(0.1)
    raise RuntimeError("Redis did not finish rewriting its append-only file")


def measure(variant: str, env: dict[str, str], logs: Path, label: str, client: redis.Redis, args) -> dict:
    redis_server = psutil.Process(client.info("server")["process_id"])
    root = args.compare if variant == "compare" else ROOT
    stack = Stack(env, logs, label, names=("web",), root=root, commands=web_commands(variant))
    try:
        stack.wait_until_serving()
        creates(stack.url, seconds=args.warmup, connections=args.connections, expected=202,
                prefix=f"{label}-warm")  # fmt: skip
        reset(client)
        time.sleep(1.0)
        web_before, redis_before = stack.cpu_s("web"), cpu_s([redis_server])
        result = creates(
            stack.url, seconds=args.seconds, connections=args.connections, expected=202, prefix=label
        )
        web_cpu, redis_cpu = stack.cpu_s("web") - web_before, cpu_s([redis_server]) - redis_before
    finally:
        stack.stop()
    requests = max(1, result["requests"])
    result.update(
        web_cpu_s=web_cpu,
        redis_cpu_s=redis_cpu,
        web_cpu_ms_per_req=1000 * web_cpu / requests,
        redis_cpu_ms_per_req=1000 * redis_cpu / requests,
    )
    return result


def median(rounds: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def table(results: dict[str, list[dict]]) -> list[str]:
    lines = [
        f"{'variant':<8} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} | "
        f"{'web CPU ms/req':>14} | {'Redis CPU ms/req':>16} | {'client CPU s':>12}"
    ]
    for variant in results:
        rounds = results[variant]
        errors = sum(r["errors"] for r in rounds)
        web, redis_ = median(rounds, "web_cpu_ms_per_req"), median(rounds, "redis_cpu_ms_per_req")
        lines.append(
            f"{variant:<8} | {median(rounds, 'per_s'):>7.0f} | {median(rounds, 'p50_ms'):>7.1f} | "
            f"{median(rounds, 'p99_ms'):>7.1f} | {errors:>6} | {web:>14.2f} | {redis_:>16.3f} | "
            f"{median(rounds, 'client_cpu_s'):>12.1f}"
        )
    return lines


def ratios(results: dict[str, list[dict]]) -> dict[str, float]:
    out = {}
    for base in [b for b in ("bare", "json", "compare") if b in results]:
        out[f"req_per_s_project_over_{base}"] = median(results["project"], "per_s") / median(
            results[base], "per_s"
        )
        out[f"p99_project_over_{base}"] = median(results["project"], "p99_ms") / median(
            results[base], "p99_ms"
        )
        out[f"web_cpu_project_over_{base}"] = median(results["project"], "web_cpu_ms_per_req") / median(
            results[base], "web_cpu_ms_per_req"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="of measured load per variant and round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout (a git worktree) to serve too")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "accept.json"))
    args = parser.parse_args()

    variants = (*VARIANTS, "compare") if args.compare else VARIANTS
    results: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp, embedded(Path(tmp)) as env:
        env = {**env, "MAX_QUEUE_DEPTH": DEEP_ENOUGH}
        if args.compare:
            args.compare = args.compare.resolve()
            files = check_imports(args.compare, env)
            print(f"compare ({args.compare}) imports {', '.join(files)}", flush=True)
        client = connect_redis(Settings.from_env(env))
        try:
            for round_ in range(1, args.rounds + 1):
                for variant in variants if round_ % 2 else reversed(variants):
                    label = f"{variant}-r{round_}-{uuid.uuid4().hex[:6]}"
                    measured = measure(variant, env, Path(tmp), label, client, args)
                    results[variant].append(measured)
                    print(
                        f"round {round_} {variant}: {measured['per_s']:.0f} req/s, "
                        f"p99 {measured['p99_ms']:.1f} ms, {measured['errors']} errors, "
                        f"web CPU {measured['web_cpu_ms_per_req']:.2f} ms/req",
                        flush=True,
                    )
                    if measured["first_unexpected"]:
                        print(f"  first unexpected answer: {measured['first_unexpected']}", flush=True)
        finally:
            client.close()

    print(
        f"\nPOST /products, {args.connections} connections, {args.seconds:g} s per measurement, "
        f"{generator()} load, medians of {args.rounds} rounds"
    )
    for line in table(results):
        print(line)
    found = ratios(results)
    print(
        f"project/bare: req/s {found['req_per_s_project_over_bare']:.2f}, "
        f"web CPU per request {found['web_cpu_project_over_bare']:.2f}; "
        f"project/json: req/s {found['req_per_s_project_over_json']:.2f}, "
        f"web CPU per request {found['web_cpu_project_over_json']:.2f}"
    )
    if args.compare:
        print(
            f"project/compare: req/s {found['req_per_s_project_over_compare']:.2f}, "
            f"p99 {found['p99_project_over_compare']:.2f}, "
            f"web CPU per request {found['web_cpu_project_over_compare']:.2f}"
        )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "seconds": args.seconds, "warmup": args.warmup, "connections": args.connections,
        "rounds": args.rounds, "generator": generator(),
        "commands": {v: (web_commands(v) or {"web": procfile()["web"]})["web"] for v in variants},
        "compare": str(args.compare) if args.compare else None,
    }  # fmt: skip
    out.write_text(json.dumps({"settings": settings, "results": results, "ratios": found}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
