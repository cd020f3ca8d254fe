"""The service as a platform runs it, with faults on demand: a Redis (with
its append-only file) and a store of the suite's own, and the Procfile's
web, worker and projector, restarted whenever one of them dies, as a
platform restarts a crashed process.  Every server and process here was
started by the suite, and is ended by the PID it started."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from infra.embedded import Server, free_port, start_mongo, start_redis
from infra.settings import Settings
from tests.conftest import mongodb_uri_for
from tests.e2e.conftest import PROCFILE, procfile_env, start, stop_all, wait_until_serving

#: What the Procfile gives Dramatiq's command line for ``worker`` and ``projector``.
BROKER_MODULE = "workers.main:broker"


@dataclass
class Restartable:
    """A server of ours that can be stopped, killed and started again on
    the same port and data folder."""

    name: str
    launch: Callable[[int], Server]
    port: int = field(default_factory=free_port)
    server: Server | None = None

    def start(self) -> None:
        self.server = self.launch(self.port)

    def stop(self) -> None:  # SIGTERM, and wait
        if self.server is not None:
            self.server.stop()

    def kill(self) -> None:  # SIGKILL
        if self.server is not None and self.server.process.poll() is None:
            self.server.process.kill()
            self.server.process.wait()
            self.server.stop()  # closes its log

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url


class Cluster:
    """Redis, the store (unless ``MONGODB_URI`` points at one), and the
    Procfile's processes, supervised."""

    def __init__(self, root: Path, *, env: dict[str, str]):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis = Restartable("redis", lambda port: start_redis(root / "redis", port=port))
        external = os.environ.get("MONGODB_URI")
        self.mongo = (
            None if external else Restartable("mongo", lambda port: start_mongo(root / "mongo", port=port))
        )
        self.redis.start()
        if self.mongo is not None:
            self.mongo.start()
        database = f"faults_{uuid.uuid4().hex[:10]}"
        self.settings = Settings(
            mongodb_uri=mongodb_uri_for(external or self.mongo.url, database),
            mongodb_database=database,
            redis_url=self.redis.url,
            redis_namespace="faults",
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = procfile_env(self.settings, self.port)
        self.env.update(env)
        self.processes: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, int] = {"web": 0, "worker": 0, "projector": 0}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)

    def boot(self) -> None:
        release = subprocess.run(
            ["sh", "-c", PROCFILE["release"]], env=self.env, capture_output=True, timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        assert release.returncode == 0, release.stderr.decode()
        for name in ("web", "worker", "projector"):
            self.processes[name] = start(name, self.env, self.logs)
        wait_until_serving(self.url, self.processes["web"], timeout=60)
        self._supervisor.start()

    def _supervise(self) -> None:
        """Start again any Procfile process that ended (a platform would)."""
        while not self._stopping.wait(0.3):
            with self._lock:
                for name, process in list(self.processes.items()):
                    if process.poll() is not None and not self._group_alive(process):
                        self.restarts[name] += 1
                        self.processes[name] = start(name, self.env, self.logs)

    @staticmethod
    def _group_alive(process: subprocess.Popen) -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def dramatiq_workers(self, name: str) -> list[psutil.Process]:
        """The worker processes (children of Dramatiq's main process, not
        the main process itself) of a Procfile process."""
        with self._lock:
            root = self.processes[name].pid
        try:
            family = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
            main = next(
                (
                    p
                    for p in family
                    if p.name() not in ("sh", "dash", "bash") and BROKER_MODULE in " ".join(p.cmdline())
                ),
                None,
            )
            return main.children() if main is not None else []
        except psutil.Error:
            return []

    def kill_a_worker_process(self, name: str, rng) -> int | None:
        """SIGKILL one of ``name``'s worker processes (the one holding
        messages); Dramatiq then stops the rest and the supervisor starts
        the process again.  Its PID, or None if none was running."""
        workers = self.dramatiq_workers(name)
        if not workers:
            return None
        victim = rng.choice(workers)
        victim.send_signal(signal.SIGKILL)
        return victim.pid

    def pause_a_worker_process(self, name: str, seconds: float, rng) -> int | None:
        workers = self.dramatiq_workers(name)
        if not workers:
            return None
        victim = rng.choice(workers)
        victim.suspend()
        try:
            time.sleep(seconds)
        finally:
            try:
                victim.resume()
            except psutil.NoSuchProcess:
                pass
        return victim.pid

    def wait_all_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            try:
                health = requests.get(self.url + "/health", timeout=2)
                workers = {name: len(self.dramatiq_workers(name)) for name in ("worker", "projector")}
                seen = f"/health {health.status_code} {health.text[:200]}, worker processes {workers}"
                if health.status_code == 200 and all(workers.values()):
                    return
            except requests.RequestException as error:
                seen = f"/health: {error}"
            time.sleep(0.3)
        raise AssertionError(f"the Procfile's processes did not come back: {seen}\n" + self.tail())

    def tail(self, chars: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.logs.glob("*.log"))
        )

    def shutdown(self) -> None:
        self._stopping.set()
        if self._supervisor.is_alive():
            self._supervisor.join(5)
        stop_all(self.processes.values())
        if self.mongo is not None:
            self.mongo.stop()
        self.redis.stop()
