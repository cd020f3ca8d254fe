"""End-to-end figures of the Procfile's web, worker and projector on
embedded servers: the highest create rate they sustain, the lag from a
create to the read model at fractions of that rate, the CPU each process
spends per create, and the worker's memory after many commands.  With
``--compare PATH``, the same figures for the processes of another
checkout, measured in the same run, round by round.

Load: creates sent open loop, each at its scheduled time whatever the
earlier ones are doing, and timed from that time (no coordinated
omission).  After its ``202``, a ``GET /products/{id}?after={command_id}``
with ``Prefer: wait=10`` answers once the read model has the product: a
create is done then.  Nothing polls, unless web refuses to let a GET wait
(each web process lets only ``max_waits`` wait at once): that GET is sent
again 50 ms later, and counted ("waits refused").  The load generator is this
process: threads, each with one keep-alive connection (http.client), doing
nothing but the POST and the waiting GET.  How late it sends (against the
schedule) and the CPU it spends are measured too; a rate at which it sends
late does not count as sustained.

Each round, for each checkout, a Stack of its own (its own database and
Redis namespace, indexes made by that checkout's ``release``) starts and
settles idle, then:

1. Memory: the RSS of the worker's Dramatiq process idle (started and
   settled, all imports done, no command yet: pymongo connects on the first
   message), then after ``--memory-commands`` creates (closed loop, 16 at a
   time), drained and settled.
2. Sustainable rate: probes of ``--seconds`` each.  A rate passes when the
   ``commands`` and ``projections`` queues (Dramatiq's waiting lists, read
   from Redis by the keys of infra/keys.py, as /metrics does) do not grow
   over the window (mean of its last quarter minus mean of its first
   quarter at most max(10, 2 % of the creates sent)), every create is done,
   the last one at most ``--settle`` s after the window, and the generator
   sent 99 % of them less than 100 ms late.  The first round steps up from
   ``--start-rate`` (x2) until a rate fails, then bisects (geometric) to
   within 10 %; later rounds start from the median so far and step by
   x1.25.  Bounded: at most 8 probes (5 after the first round) and
   ``--search-seconds`` per search; the backlog of a failed probe is
   drained before the next.
3. Lag p50 / p99 / max at 25 %, 50 % and 90 % of the rate the round found.
4. CPU per create at ``--cpu-rate`` (the same rate for every checkout),
   over one window, from the load's start until both queues are drained:
   user + system seconds of each process tree (web: gunicorn's master and
   workers; worker and projector: Dramatiq's main and worker processes;
   the store server nx-27017; redis-server) over the creates done.  The
   idle cost of each tree (ms of CPU per second, before any load) is in
   the JSON; it is in the per-create figure too, spread over the creates.

Every probe prints each tree's CPU use (% of one core) over its window,
and the table gives it at the sustainable rate: what runs out first shows
there (a tree far from 100 % while its queue grows waits on something
else: threads, round trips, disk).  Medians over the rounds; the rounds
alternate the checkouts (A B, then B A).  The embedded Redis and store
servers are this checkout's, shared by both.

Comparing: ``git worktree add /tmp/old <commit>``, then ``--compare
/tmp/old``.  Processes started with cwd=/tmp/old import /tmp/old's code
although the virtualenv has this project installed in editable mode: the
editable install is a finder appended to ``sys.meta_path``, so it is asked
only after ``sys.path``; ``python -m`` puts the cwd first on ``sys.path``;
gunicorn (app/base.py ``chdir``) inserts its cwd at the front of
``sys.path`` before it imports its ``-c python:`` config and the app.
Checked at start (each checkout's modules, as the two loaders find them,
must be under it; else the run stops), and once by hand with
``PYTHONVERBOSE=1``: every web/, workers/, infra/, domain/ module the
three processes loaded came from their own checkout.

Duration, from the lengths of the phases (a 15 s window is about 20 s
with its drain): a stack's first round about 5 minutes (start 10 s,
5,000 creates at about 100/s, up to 8 probes, 3 lag windows, 1 CPU
window), later rounds about 3.5 (up to 5 probes, usually 3 or 4): about
12 minutes with the defaults, at most about 17 (every search at its
bound), twice that with ``--compare``.  The run prints how long it took.
A smoke run, ``--rounds 1 --seconds 3 --memory-commands 300``, takes
about 1 minute (2 with ``--compare``).

    .venv/bin/python -m bench.endtoend [--compare PATH] [--rounds 3] [--seconds 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import redis

from bench.stack import ROOT, Stack, check_imports, cpu_s, embedded, release, tree
from infra.keys import Keys
from infra.messages import COMMANDS_QUEUE, PROJECTIONS_QUEUE
from infra.mongo import connect
from infra.redisclient import connect_redis
from infra.settings import Settings

QUEUES = (COMMANDS_QUEUE, PROJECTIONS_QUEUE)
STACK = ("web", "worker", "projector")
SERVERS = ("store", "redis")
FRACTIONS = (0.25, 0.5, 0.9)
WAIT_S = 10
LATE_S = 0.1


# The load generator.


class Connection:
    """One keep-alive HTTP connection.  gunicorn closes a keep-alive
    connection idle for 2 s (its default ``--keep-alive``); one idle for
    ``IDLE_S`` is not reused, so that no request races that close."""

    IDLE_S = 1.0

    def __init__(self, host: str, port: int):
        self._host, self._port = host, port
        self._conn: http.client.HTTPConnection | None = None
        self._used = 0.0

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        if self._conn is not None and time.monotonic() - self._used > self.IDLE_S:
            self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=WAIT_S + 5)
        try:
            self._conn.request(method, path, body=body, headers=headers or {})
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        self._used = time.monotonic()
        if response.will_close:
            self.close()
        return response.status, response.headers, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def create_and_wait(conn: Connection, due: float) -> dict:
    """At ``due``, create a product and wait until the read model has it.
    Times are ``time.monotonic()``; ``done`` is None if it never showed.

    A web process lets only so many requests wait at once (``max_waits``);
    one it does not let wait answers at once with ``Preference-Applied:
    wait=0``.  That GET is sent again 50 ms later (counted in ``refused``),
    until ``WAIT_S`` after the POST, so that the slowest creates are not
    left out of the lag."""
    time.sleep(max(0.0, due - time.monotonic()))
    sent = time.monotonic()
    record: dict = {"due": due, "sent": sent, "done": None, "refused": 0}
    product = {
        "sku": f"E2E-{uuid.uuid4().hex[:12]}", "name": "End-to-end probe", "price_cents": 100,
        "currency": "EUR", "stock": 1,
    }  # fmt: skip
    try:
        status, _, data = conn.request(
            "POST", "/products", json.dumps(product).encode(), {"Content-Type": "application/json"}
        )
        if status != 202:
            record["error"] = f"POST {status}"
            return record
        body = json.loads(data)
        query = f"/products/{body['product_id']}?after={body['command_id']}"
        deadline = time.monotonic() + WAIT_S
        while True:
            status, headers, _ = conn.request("GET", query, headers={"Prefer": f"wait={WAIT_S}"})
            if status == 200 and headers.get("Read-Model-Stale") == "false":
                record["done"] = time.monotonic()
                return record
            if headers.get("Preference-Applied") != "wait=0" or time.monotonic() > deadline:
                record["error"] = f"GET {status}"
                return record
            record["refused"] += 1
            time.sleep(0.05)
    except (OSError, http.client.HTTPException) as exc:
        record["error"] = type(exc).__name__
        return record


class Generator:
    def __init__(self, url: str, max_threads: int):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.max_threads = max_threads

    def _pool(self, threads: int, task: Callable[[Connection, int], dict], count: int) -> list[dict]:
        local = threading.local()
        connections: list[Connection] = []

        def one(i: int) -> dict:
            if not hasattr(local, "conn"):
                local.conn = Connection(self.host, self.port)
                connections.append(local.conn)
            return task(local.conn, i)

        try:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                return list(pool.map(one, range(count)))
        finally:
            for conn in connections:
                conn.close()

    def open_loop(self, rate: float, seconds: float) -> tuple[list[dict], float, float]:
        """Creates at ``rate`` per second for ``seconds``: their records,
        the scheduled start and the end of the window."""
        count = max(1, int(rate * seconds))
        start = time.monotonic() + 0.5
        # Enough threads for two seconds of creates in flight.
        threads = min(self.max_threads, max(16, math.ceil(rate * 2) + 16), count)
        records = self._pool(threads, lambda conn, i: create_and_wait(conn, start + i / rate), count)
        return records, start, start + count / rate

    def closed_loop(self, count: int, concurrency: int = 16) -> list[dict]:
        return self._pool(concurrency, lambda conn, i: create_and_wait(conn, 0.0), count)


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def lag_summary(records: list[dict]) -> dict:
    lags = sorted(r["done"] - r["due"] for r in records if r["done"] is not None)
    late = sorted(r["sent"] - r["due"] for r in records)
    summary = {"count": len(records), "missed": len(records) - len(lags)}
    errors = Counter(r["error"] for r in records if "error" in r)
    if errors:
        summary["errors"] = dict(errors)
    summary["waits_refused"] = sum(r["refused"] for r in records)
    if lags:
        summary.update(
            p50_ms=1000 * nearest_rank(lags, 0.5), p99_ms=1000 * nearest_rank(lags, 0.99),
            max_ms=1000 * lags[-1],
        )  # fmt: skip
    summary["send_late_p99_ms"] = 1000 * nearest_rank(late, 0.99)
    return summary


def lag_line(summary: dict) -> str:
    stats = " / ".join(f"{summary.get(k, math.nan):.0f}" for k in ("p50_ms", "p99_ms", "max_ms"))
    return f"p50 / p99 / max {stats} ms, missed {summary['missed']} {summary.get('errors', '')}"


# What is measured on the processes and in Redis.


class Processes:
    """The process trees whose CPU and memory are measured: the Stack's,
    and the embedded servers (children of this process, found by port)."""

    def __init__(self, stack: Stack, servers: dict[str, psutil.Process]):
        self.stack = stack
        self.servers = servers

    def tree(self, name: str) -> list[psutil.Process]:
        if name in self.servers:
            return tree(self.servers[name])
        return self.stack.tree(name)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of every tree, and of this process (the
        generator)."""
        totals = {name: cpu_s(self.tree(name)) for name in (*STACK, *SERVERS)}
        totals["generator"] = cpu_s([psutil.Process()])
        return totals

    def worker_rss_mb(self) -> float:
        """RSS of the worker's Dramatiq worker processes (the tree's leaves;
        not ``sh`` nor Dramatiq's main process)."""
        total = 0
        for process in self.tree("worker"):
            try:
                if not process.children():
                    total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**20


def embedded_servers(env: dict[str, str]) -> dict[str, psutil.Process]:
    ports = {"redis": urlsplit(env["REDIS_URL"]).port, "store": urlsplit(env["MONGODB_URI"]).port}
    found = {}
    for child in psutil.Process().children():
        command = " ".join(child.cmdline())
        for name, port in ports.items():
            if str(port) in command and (
                "redis-server" in command if name == "redis" else "nx-27017" in command
            ):
                found[name] = child
    missing = set(ports) - set(found)
    if missing:
        raise RuntimeError(f"embedded servers not found: {sorted(missing)}")
    return found


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


class Depths:
    """The queues' depths: messages waiting (as /metrics counts them), and
    messages not yet acknowledged (waiting, prefetched or running)."""

    def __init__(self, client: redis.Redis, namespace: str):
        self.client = client
        self.keys = Keys(namespace)

    def read(self) -> dict[str, tuple[int, int]]:
        pipe = self.client.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(self.keys.queue(queue))
            pipe.hlen(self.keys.messages(queue))
        values = pipe.execute()
        return {queue: (values[2 * i], values[2 * i + 1]) for i, queue in enumerate(QUEUES)}

    def drained(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(unacked == 0 for _, unacked in self.read().values()):
                return True
            time.sleep(0.2)
        return False


class Sampler(threading.Thread):
    """Reads the depths every ``interval`` s until stopped."""

    def __init__(self, depths: Depths, interval: float = 0.25):
        super().__init__(daemon=True)
        self.depths, self.interval = depths, interval
        self.samples: list[tuple[float, dict[str, tuple[int, int]]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.monotonic(), self.depths.read()))
            self._halt.wait(self.interval)

    def stop(self) -> list[tuple[float, dict[str, tuple[int, int]]]]:
        self._halt.set()
        self.join()
        return self.samples


def growth(samples, start: float, end: float, queue: str) -> tuple[float, int]:
    """Mean waiting depth of the window's last quarter minus its first
    quarter's, and the most waiting in the window."""
    quarter = (end - start) / 4
    first = [d[queue][0] for t, d in samples if start <= t < start + quarter]
    last = [d[queue][0] for t, d in samples if end - quarter <= t <= end]
    inside = [d[queue][0] for t, d in samples if start <= t <= end]
    if not first or not last:
        return 0.0, max(inside, default=0)
    return statistics.mean(last) - statistics.mean(first), max(inside, default=0)


def settled(processes: Processes, timeout: float = 60.0) -> None:
    """Wait until the stack's start-up is over (its CPU use goes quiet)."""
    deadline = time.monotonic() + timeout
    time.sleep(1.0)
    while time.monotonic() < deadline:
        before = processes.cpu()
        time.sleep(1.0)
        used = diff(processes.cpu(), before)
        if all(used[name] < 0.05 for name in STACK):
            return
    raise RuntimeError("the stack did not settle")


# The measurements.


class Run:
    """One Stack of one checkout, for one round."""

    def __init__(self, stack: Stack, processes: Processes, depths: Depths, args: argparse.Namespace):
        self.stack, self.processes, self.depths, self.args = stack, processes, depths, args
        self.generator = Generator(stack.url, args.max_threads)

    def loaded(self, rate: float, seconds: float) -> dict:
        """Open-loop creates at ``rate``, with the queues sampled and the
        CPU each tree used over the window."""
        sampler = Sampler(self.depths)
        sampler.start()
        cpu_before = self.processes.cpu()
        t0 = time.monotonic()
        records, start, end = self.generator.open_loop(rate, seconds)
        finished = time.monotonic()
        cpu = diff(self.processes.cpu(), cpu_before)
        samples = sampler.stop()
        result = {"rate": rate, **lag_summary(records)}
        done = [r["done"] for r in records if r["done"] is not None]
        result["settle_s"] = (max(done) - end) if done else None
        for queue in QUEUES:
            grew, most = growth(samples, start, end, queue)
            result[f"{queue}_growth"] = grew
            result[f"{queue}_max_waiting"] = most
        result["cpu_percent"] = {k: 100 * v / (finished - t0) for k, v in cpu.items()}
        return result

    def probe(self, rate: float) -> dict:
        result = self.loaded(rate, self.args.seconds)
        tolerance = max(10.0, 0.02 * result["count"])
        failures = []
        if result["missed"]:
            failures.append(f"{result['missed']} missed")
        if result["settle_s"] is None or result["settle_s"] > self.args.settle:
            failures.append("did not settle")
        for queue in QUEUES:
            if result[f"{queue}_growth"] > tolerance:
                failures.append(f"{queue} grew")
        if result["send_late_p99_ms"] > 1000 * LATE_S:
            failures.append("generator late")
        result["passed"] = not failures
        result["failures"] = failures
        result["drained"] = self.depths.drained(90.0)
        time.sleep(1.0)
        return result

    def search(self, start: float, factor: float, max_probes: int) -> tuple[float, list[dict]]:
        """The highest passing rate found (0 if none), and the probes."""
        passed, failed = 0.0, math.inf
        rate, probes = start, []
        deadline = time.monotonic() + self.args.search_seconds
        while len(probes) < max_probes and time.monotonic() < deadline:
            result = self.probe(rate)
            probes.append(result)
            cpu = " ".join(f"{k} {v:.0f}%" for k, v in result["cpu_percent"].items())
            verdict = "ok" if result["passed"] else "FAIL " + ", ".join(result["failures"])
            print(
                f"    probe {rate:7.1f}/s: {verdict}; p99 {result.get('p99_ms', math.nan):.0f} ms, "
                f"settle {result['settle_s'] or math.nan:.1f} s, waiting max "
                f"{result['commands_max_waiting']}/{result['projections_max_waiting']}, "
                f"waits refused {result['waits_refused']}, errors {result.get('errors', {})}; CPU {cpu}",
                flush=True,
            )
            if result["passed"]:
                passed = max(passed, rate)
            else:
                failed = min(failed, rate)
            if not result["drained"]:
                print("    the backlog did not drain: search stopped", flush=True)
                break
            if failed == math.inf:
                if rate >= self.args.max_rate:
                    break
                rate = min(self.args.max_rate, rate * factor)
            elif passed == 0.0:
                if rate < 1.0:
                    break
                rate = rate / factor
            elif failed / passed <= 1.1:
                break
            else:
                rate = round(math.sqrt(passed * failed), 1)
        return passed, probes

    def memory(self) -> dict:
        idle = self.processes.worker_rss_mb()
        records = self.generator.closed_loop(self.args.memory_commands)
        drained = self.depths.drained(120.0)
        time.sleep(2.0)
        after = self.processes.worker_rss_mb()
        missed = sum(1 for r in records if r["done"] is None)
        return {
            "commands": len(records), "missed": missed, "drained": drained,
            "idle_mb": idle, "after_mb": after, "growth_mb": after - idle,
        }  # fmt: skip

    def cpu_per_create(self, rate: float) -> dict:
        cpu_before = self.processes.cpu()
        records, _, _ = self.generator.open_loop(rate, self.args.seconds)
        drained = self.depths.drained(60.0)
        cpu = diff(self.processes.cpu(), cpu_before)
        done = sum(1 for r in records if r["done"] is not None)
        per_create = {k: 1000 * v / max(1, done) for k, v in cpu.items()}
        per_create["total"] = sum(per_create[k] for k in (*STACK, *SERVERS))
        return {"rate": rate, "creates": done, "drained": drained, "ms_per_create": per_create,
                "lag": lag_summary(records)}  # fmt: skip

    def idle_cpu(self, seconds: float = 3.0) -> dict[str, float]:
        before = self.processes.cpu()
        time.sleep(seconds)
        return {k: 1000 * v / seconds for k, v in diff(self.processes.cpu(), before).items()}


def one_round(
    env: dict[str, str], servers: dict[str, psutil.Process], root: Path, label: str,
    logs: Path, args: argparse.Namespace, earlier: list[float],
) -> dict:  # fmt: skip
    """Every measurement, on a Stack of ``root``'s processes with a
    database and namespace of their own."""
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    uri = urlsplit(env["MONGODB_URI"])
    run_env = {**env, "MONGODB_URI": urlunsplit(uri._replace(path=f"/{name}")), "REDIS_NAMESPACE": name}
    settings = Settings.from_env(run_env)
    client = connect_redis(settings)
    db = connect(settings, appname="bench")
    result: dict = {"root": str(root)}
    try:
        release(run_env, root)
        stack = Stack(run_env, logs, label, root=root)
        try:
            stack.wait_until_serving()
            processes = Processes(stack, servers)
            run = Run(stack, processes, Depths(client, name), args)
            settled(processes)
            result["idle_cpu_ms_per_s"] = run.idle_cpu()
            result["memory"] = run.memory()
            print(f"  memory: {result['memory']}", flush=True)
            if earlier:
                start, factor, max_probes = statistics.median(earlier), 1.25, 5
            else:
                start, factor, max_probes = args.start_rate, 2.0, 8
            sustainable, probes = run.search(start, factor, max_probes)
            result["sustainable"], result["probes"] = sustainable, probes
            at = [p for p in probes if p["passed"] and p["rate"] == sustainable]
            result["cpu_percent_at_sustainable"] = at[0]["cpu_percent"] if at else None
            print(f"  sustainable: {sustainable:g} creates/s", flush=True)
            result["lag"] = {}
            for fraction in FRACTIONS if sustainable else ():
                measured = run.loaded(round(sustainable * fraction, 1), args.seconds)
                run.depths.drained(60.0)
                result["lag"][str(fraction)] = measured
                print(f"  lag at {fraction:.0%} ({measured['rate']:g}/s): {lag_line(measured)}", flush=True)
            result["cpu"] = run.cpu_per_create(args.cpu_rate)
            per = result["cpu"]["ms_per_create"]
            print(f"  CPU ms per create at {args.cpu_rate:g}/s: "
                  + " ".join(f"{k} {v:.2f}" for k, v in per.items()), flush=True)  # fmt: skip
        finally:
            stack.stop()
    finally:
        db.client.drop_database(name)
        db.client.close()
        client.close()
    return result


# The report.


def median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(labels: list[str], results: dict[str, list[dict]], args: argparse.Namespace) -> dict:
    rows: list[tuple[str, list[float | None], int]] = []

    def add(title: str, pick: Callable[[dict], float | None], digits: int = 0) -> None:
        values = []
        for label in labels:
            picked = []
            for r in results[label]:
                try:
                    picked.append(pick(r))
                except (KeyError, TypeError):
                    pass
            values.append(median(picked))
        rows.append((title, values, digits))

    add("sustainable creates/s", lambda r: r["sustainable"], 1)
    for name in (*STACK, *SERVERS, "generator"):
        add(f"  CPU % of a core there: {name}", lambda r, n=name: r["cpu_percent_at_sustainable"][n])
    for fraction in FRACTIONS:
        key = str(fraction)
        add(f"lag at {fraction:.0%}: rate /s", lambda r, k=key: r["lag"][k]["rate"], 1)
        for stat in ("p50_ms", "p99_ms", "max_ms"):
            add(f"  {stat.replace('_', ' ')}", lambda r, k=key, s=stat: r["lag"][k][s])
    add(f"lag at {args.cpu_rate:g}/s: p50 ms", lambda r: r["cpu"]["lag"]["p50_ms"])
    add("  p99 ms", lambda r: r["cpu"]["lag"]["p99_ms"])
    for name in (*STACK, *SERVERS, "total"):
        add(
            f"CPU ms/create at {args.cpu_rate:g}/s: {name}", lambda r, n=name: r["cpu"]["ms_per_create"][n], 2
        )
    add("  (generator, not in total)", lambda r: r["cpu"]["ms_per_create"]["generator"], 2)
    add("worker RSS idle MB", lambda r: r["memory"]["idle_mb"], 1)
    add(f"worker RSS after {args.memory_commands} MB", lambda r: r["memory"]["after_mb"], 1)
    add("  growth MB", lambda r: r["memory"]["growth_mb"], 1)

    print(f"\nend to end, medians of {args.rounds} round(s), {args.seconds:g} s windows")
    width = max(len(t) for t, _, _ in rows) + 2
    header = f"{'':<{width}}" + "".join(f"{label:>14}" for label in labels)
    if len(labels) == 2:
        header += f"{'ratio':>9}"
    print(header)
    medians = {}
    for title, values, digits in rows:
        line = f"{title:<{width}}" + "".join(f"{fmt(v, digits):>14}" for v in values)
        if len(labels) == 2 and values[0] and values[1]:
            line += f"{values[1] / values[0]:>8.2f}x"
        print(line)
        medians[title.strip()] = dict(zip(labels, values, strict=True))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compare", type=Path, help="another checkout (a git worktree) to measure too")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="of load in each window")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds after a window within which its creates must be done")  # fmt: skip
    parser.add_argument("--start-rate", type=float, default=20.0, help="the first probe, creates/s")
    parser.add_argument("--max-rate", type=float, default=2000.0)
    parser.add_argument("--search-seconds", type=float, default=300.0, help="bound of one search")
    parser.add_argument("--cpu-rate", type=float, default=30.0, help="creates/s of the CPU window")
    parser.add_argument("--memory-commands", type=int, default=5000)
    parser.add_argument("--max-threads", type=int, default=512, help="of the load generator")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "endtoend.json"))
    args = parser.parse_args()

    roots = {"this": ROOT}
    if args.compare:
        roots["compare"] = args.compare.resolve()
    labels = list(roots)
    results: dict[str, list[dict]] = {label: [] for label in labels}
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, embedded(Path(tmp)) as env:
        servers = embedded_servers(env)
        imports = {label: check_imports(root, env) for label, root in roots.items()}
        for label, files in imports.items():
            print(f"{label} ({roots[label]}) imports {', '.join(files)}", flush=True)
        for round_ in range(1, args.rounds + 1):
            for label in labels if round_ % 2 else reversed(labels):
                print(f"round {round_} {label}:", flush=True)
                earlier = [r["sustainable"] for r in results[label] if r["sustainable"]]
                measured = one_round(env, servers, roots[label], label, Path(tmp), args, earlier)
                results[label].append(measured)
    medians = report(labels, results, args)
    minutes = (time.monotonic() - began) / 60
    print(f"took {minutes:.1f} min")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "roots": {k: str(v) for k, v in roots.items()},
                "imports": imports,
                "minutes": minutes,
                "medians": medians,
                "rounds": results,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
