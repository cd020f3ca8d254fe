"""The Procfile's processes, started for real, spoken to over HTTP."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from honcho.environ import parse_procfile

from infra.embedded import free_port
from infra.settings import Settings
from tests.conftest import cleanup, isolated_settings

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = parse_procfile((ROOT / "Procfile").read_text()).processes


def procfile_env(settings: Settings, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PORT=str(port),
        WEB_HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
        MONGODB_URI=settings.mongodb_uri,
        REDIS_URL=settings.redis_url,
        REDIS_NAMESPACE=settings.redis_namespace,
        ALLOW_ANONYMOUS="1",
        CURSOR_SECRET=secrets.token_urlsafe(32),
    )
    return env


@dataclass
class Stack:
    url: str
    settings: Settings
    processes: dict[str, subprocess.Popen]
    logs: Path
    env: dict[str, str] | None = None

    def stop_process(self, name: str) -> None:
        """Stop one of the Procfile's processes (ours: we started it)."""
        stop(self.processes[name])

    def start_process(self, name: str) -> None:
        self.processes[name] = start(name, self.env, self.logs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)

    def wait_for(self, command_id: str, timeout: float = 30.0) -> dict:
        """Poll ``/commands/{id}`` until its status is final, with a deadline."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            status = self.get(f"/commands/{command_id}").json()
            if status["status"] != "accepted":
                return status
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise AssertionError(f"command {command_id} still accepted after {timeout} s\n{self.tail()}")

    def patch(self, path: str, **kwargs) -> requests.Response:
        return requests.patch(self.url + path, timeout=10, **kwargs)

    def wait_for_product(self, product_id: str, version: int = 1, timeout: float = 30.0) -> dict:
        """Poll the product until its read model reaches ``version``."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            answer = self.get(f"/products/{product_id}")
            if answer.status_code == 200 and answer.json()["version"] >= version:
                return answer.json()
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise AssertionError(f"product {product_id} not projected after {timeout} s\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.glob("*.log"))
        )


def start(name: str, env: dict[str, str], logs: Path) -> subprocess.Popen:
    log = open(logs / f"{name}.log", "ab")
    # A session of its own, so that the whole process group (sh, the
    # master, its workers) is ended together, by the PID we started.
    return subprocess.Popen(
        ["sh", "-c", PROCFILE[name]], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def stop(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the process group we started, and wait until every process in
    it is gone (the shell may exit before the program it started)."""
    stop_all([process], timeout)


def stop_all(processes: Iterable[subprocess.Popen], timeout: float = 30.0) -> None:
    """:func:`stop` for several process groups at once: all are sent SIGTERM
    first, so that they shut down side by side."""
    running = []
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            running.append(process)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        for process in list(running):
            process.poll()
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                running.remove(process)
        time.sleep(0.05)
    for process in running:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"web exited with {process.returncode}")
        try:
            requests.get(url + "/commands/00000000-0000-4000-8000-000000000000", timeout=1)
            return
        except requests.RequestException:  # not listening yet, or still booting
            time.sleep(0.1)
    raise RuntimeError("web did not listen in time")


@pytest.fixture(scope="module")
def stack(backends, tmp_path_factory, request):
    """The Procfile's web, worker and projector; a test module may set
    ``STACK_ENV`` (say, ``WORKER_PROCESSES``) for its own stack."""
    settings = isolated_settings(backends, "e2e")
    logs = tmp_path_factory.mktemp("logs")
    port = free_port()
    env = procfile_env(settings, port)
    env.update(getattr(request.module, "STACK_ENV", {}))
    release = subprocess.run(
        ["sh", "-c", PROCFILE["release"]], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert release.returncode == 0, release.stderr.decode()
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name in ("web", "worker", "projector"):
            processes[name] = start(name, env, logs)
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, processes["web"])
        yield Stack(url, settings, processes, logs, env)
    finally:
        stop_all(processes.values())
        cleanup(settings)
