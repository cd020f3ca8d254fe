"""What the end-to-end benchmarks share: embedded servers for one run, and
the Procfile's processes started from a checkout (this one, or another to
compare code side by side), each in a process group of its own."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests
from honcho.environ import parse_procfile

from infra.embedded import env_with_servers, free_port

ROOT = Path(__file__).resolve().parents[1]


def procfile(root: Path = ROOT) -> dict[str, str]:
    return parse_procfile((root / "Procfile").read_text()).processes


@contextmanager
def embedded(tmp: Path) -> Iterator[dict[str, str]]:
    """An environment for the Procfile's processes on embedded Redis and
    store servers of their own, stopped on exit."""
    env, servers = env_with_servers(dict(os.environ), tmp)
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        WEB_HOST="127.0.0.1", ALLOW_ANONYMOUS="1", CURSOR_SECRET=secrets.token_urlsafe(32),
        REDIS_NAMESPACE=f"bench-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    try:
        yield env
    finally:
        for server in reversed(servers):
            server.stop()


def release(env: dict[str, str], root: Path = ROOT) -> None:
    command = procfile(root)["release"]
    subprocess.run(["sh", "-c", command], cwd=root, env=env, check=True, capture_output=True)


class Stack:
    """The Procfile's processes ``names`` (web, worker, projector unless
    told), started from the checkout at ``root``; ``commands`` replaces the
    Procfile's command lines of some (a benchmark's own app served as web is)."""

    def __init__(
        self,
        env: dict[str, str],
        logs: Path,
        label: str,
        *,
        names: Sequence[str] = ("web", "worker", "projector"),
        root: Path = ROOT,
        commands: Mapping[str, str] | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PORT": str(self.port)}
        commands = {**procfile(root), **(commands or {})}
        self.processes = {
            name: subprocess.Popen(
                ["sh", "-c", commands[name]],
                cwd=root,
                env=self.env,
                start_new_session=True,
                stdout=open(logs / f"{name}-{label}.log", "ab"),
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            for name in names
        }

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/health", timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("web did not answer in time")

    def tree(self, name: str) -> list[psutil.Process]:
        """The process ``name`` and its children (gunicorn's workers)."""
        try:
            top = psutil.Process(self.processes[name].pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_s(self, name: str) -> float:
        """CPU seconds (user + system) of the process ``name``'s tree so far."""
        total = 0.0
        for process in self.tree(name):
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_bytes(self, name: str) -> int:
        total = 0
        for process in self.tree(name):
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
