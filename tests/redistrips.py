"""Redis round trips of given processes, as Redis itself sees them.

Redis's ``MONITOR`` lists every command it executes, with the client's
address, and marks those a script runs.  A round trip is then a command a
client sent: not one a script ran, and a ``MULTI`` ... ``EXEC`` block counts
once (at its ``EXEC``).  The processes' client addresses come from their
own sockets (psutil), so the count is theirs alone on a shared server."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable

import psutil
import redis


def client_ports(pids: Iterable[int], redis_port: int) -> set[int]:
    """The local ports of the connections the processes ``pids`` (and their
    children) hold to the Redis server on ``redis_port``."""
    ports = set()
    for pid in pids:
        try:
            top = psutil.Process(pid)
            family = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in family:
            try:
                connections = process.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            ports.update(c.laddr.port for c in connections if c.raddr and c.raddr.port == redis_port)
    return ports


def kind(command: str) -> str:
    """A short name for what a command does: its name, and for a script
    call which step or Dramatiq command it runs (by its arguments)."""
    parts = [p.strip('"') for p in command.split()]
    name = parts[0].upper()
    if name in ("EVALSHA", "EVAL") and len(parts) > 3 and parts[2].isdigit():
        keys = int(parts[2])
        args = parts[3 + keys :]
        if keys == 1 and len(args) > 2 and args[0].isalpha():
            # Dramatiq's dispatch script: its command, a time, the queue.
            return f"dramatiq {args[0]} {args[2]}"
        if args and args[0].isdigit() and len(args) > 3 * int(args[0]):
            # The service's steps (infra/steps.py): their count, then each
            # one's name and sizes.
            return "steps " + "+".join(args[1 + 3 * i] for i in range(int(args[0])))
        return f"script {parts[1][:8]}"
    return name


class Monitor:
    """Records, from ``start`` to ``stop``, the commands Redis executes."""

    def __init__(self, client: redis.Redis):
        self._client = client
        self.lines: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> Monitor:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("MONITOR did not start")
        return self

    def _run(self) -> None:
        with self._client.monitor() as monitor:
            self._ready.set()
            for command in monitor.listen():
                self.lines.append((time.monotonic(), command))
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()
        self._client.ping()  # one more line, for the listener to see the flag
        if self._thread is not None:
            self._thread.join(5)

    def trips(self, ports: set[int], start: float, end: float) -> Counter[str]:
        """Round trips by kind, of the clients on ``ports``, between
        ``start`` and ``end`` (monotonic)."""
        trips: Counter[str] = Counter()
        in_multi: set[int] = set()
        for at, command in self.lines:
            port = int(command.get("client_port") or 0)
            if command.get("client_type") == "lua" or port not in ports:
                continue
            name = command["command"].split()[0].upper()
            if name == "MULTI":
                in_multi.add(port)
                continue
            if port in in_multi:
                if name in ("EXEC", "DISCARD"):
                    in_multi.discard(port)
                    if start <= at < end:
                        trips["transaction"] += 1
                continue
            if start <= at < end:
                trips[kind(command["command"])] += 1
        return trips
