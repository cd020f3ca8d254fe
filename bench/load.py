"""Closed-loop HTTP load of creates, shared by the throughput benchmarks:
a fixed number of keep-alive connections, each sending its next POST as
soon as the previous one is answered, for a fixed time.  Every body has a
SKU of its own; an answer whose status is not the expected one counts as
an error, as do the requests that failed on the socket.

``wrk`` (Debian's ``wrk`` package) generates it when installed, with
``bench/creates.lua``; else Python processes of keep-alive ``http.client``
connections, spread over as many processes as there are cores, so that
one interpreter's lock does not limit the client.  The client's own CPU
time is given with the result: on a small machine it shares the cores with
the servers measured."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from bench.stack import cpu_s, tree

SCRIPT = Path(__file__).with_name("creates.lua")


def body(prefix: str, n: int) -> bytes:
    return json.dumps(
        {"sku": f"{prefix}-{n}", "name": "Bench product", "price_cents": 100, "currency": "EUR", "stock": 1}
    ).encode()


def children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def creates(
    url: str, *, seconds: float, connections: int, expected: int, prefix: str, path: str = "/products"
) -> dict:
    """``connections`` clients POSTing creates to ``url + path`` for
    ``seconds``: requests, requests per second, latency percentiles (ms),
    errors (unexpected statuses and socket errors) and the client's CPU
    seconds."""
    before = children_cpu_s()
    if generator() == "wrk":
        result = _wrk(url, seconds, connections, expected, prefix, path)
    else:
        result = _python(url, seconds, connections, expected, prefix, path)
    result["client_cpu_s"] = children_cpu_s() - before
    result["generator"] = generator()
    return result


def _wrk(url: str, seconds: float, connections: int, expected: int, prefix: str, path: str) -> dict:
    threads = max(1, min(os.cpu_count() or 1, connections))
    argv = [
        "wrk", "--threads", str(threads), "--connections", str(connections),
        "--duration", f"{seconds:g}s", "--timeout", "10s", "--script", str(SCRIPT),
        url, "--", path, str(expected), prefix,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"wrk said nothing of its run:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(lines[-1].removeprefix("RESULT "))
    socket_errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    elapsed = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "seconds": elapsed,
        "per_s": raw["requests"] / elapsed,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "unexpected_status": raw["unexpected_status"],
        "socket_errors": socket_errors,
        "errors": raw["unexpected_status"] + socket_errors,
        "first_unexpected": raw["first_unexpected"],
    }


def _client_thread(host, port, path, expected, prefix, start, stop, out) -> None:
    latencies, unexpected, failed, first = [], 0, 0, ""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json"}
    n = 0
    time.sleep(max(0.0, start - time.monotonic()))
    while time.monotonic() < stop:
        n += 1
        sent = time.monotonic()
        try:
            connection.request("POST", path, body(prefix, n), headers)
            answer = connection.getresponse()
            text = answer.read()
        except (OSError, http.client.HTTPException):
            failed += 1
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=10)
            continue
        latencies.append(time.monotonic() - sent)
        if answer.status != expected:
            unexpected += 1
            first = first or f"{answer.status} {text[:200]!r}"
    connection.close()
    out.append((latencies, unexpected, failed, first))


def _client_process(host, port, path, expected, prefix, threads, start, stop, queue) -> None:
    out: list = []
    workers = [
        threading.Thread(
            target=_client_thread, args=(host, port, path, expected, f"{prefix}-{i}", start, stop, out)
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(out)


def _python(url: str, seconds: float, connections: int, expected: int, prefix: str, path: str) -> dict:
    where = urlsplit(url)
    processes = max(1, min(os.cpu_count() or 1, connections))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start = time.monotonic() + 3.0  # after every process has started (spawn imports)
    stop = start + seconds
    spawned = []
    for p in range(processes):
        threads = connections // processes + (1 if p < connections % processes else 0)
        spawned.append(
            context.Process(
                target=_client_process,
                args=(
                    where.hostname,
                    where.port,
                    path,
                    expected,
                    f"{prefix}-p{p}",
                    threads,
                    start,
                    stop,
                    queue,
                ),
            )
        )
    for process in spawned:
        process.start()
    results = [item for _ in spawned for item in queue.get(timeout=seconds + 60)]
    for process in spawned:
        process.join()
    latencies = sorted(lat for lats, *_ in results for lat in lats)
    unexpected = sum(r[1] for r in results)
    failed = sum(r[2] for r in results)
    first = next((r[3] for r in results if r[3]), "")
    if not latencies:
        raise RuntimeError(f"no request was answered ({failed} failed)")
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "per_s": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": 1000 * latencies[-1],
        "unexpected_status": unexpected,
        "socket_errors": failed,
        "errors": unexpected + failed,
        "first_unexpected": first,
    }


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its children so far."""
    try:
        return cpu_s(tree(psutil.Process(pid)))
    except psutil.NoSuchProcess:
        return 0.0


def listener_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1:``port`` (an embedded server)."""
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            return connection.pid
    return None
