"""What the end-to-end benchmarks share: embedded servers for one run, and
the Procfile's processes started from a checkout (this one, or another to
compare code side by side), each in a process group of its own."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import requests
from honcho.environ import parse_procfile

from infra.embedded import env_with_servers, free_port

if TYPE_CHECKING:
    from infra.broker import ShopBroker
    from workers.bootstrap import Services

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


@contextmanager
def in_process(appname: str = "bench") -> Iterator[tuple[ShopBroker, Services]]:
    """A worker's broker and services in this process, on a database and a
    Redis namespace of their own (with the indexes), on servers started
    for the run unless ``MONGODB_URI`` / ``REDIS_URL`` name some; the
    database is dropped and the servers stopped on exit."""
    from infra.broker import build_broker
    from infra.indexes import ensure_indexes
    from infra.settings import Settings
    from workers.bootstrap import build_services

    with tempfile.TemporaryDirectory() as tmp:
        env, servers = env_with_servers(dict(os.environ), Path(tmp))
        try:
            database = f"bench_{uuid.uuid4().hex[:8]}"
            uri = env["MONGODB_URI"].rsplit("/", 1)[0] + f"/{database}"
            settings = Settings.from_env({**env, "MONGODB_URI": uri, "REDIS_NAMESPACE": database})
            broker = build_broker(settings)
            services = build_services(settings, broker, appname=appname)
            db = services.adapters.db
            try:
                ensure_indexes(db)
                yield broker, services
            finally:
                db.client.drop_database(database)
                db.client.close()
                broker.close()
        finally:
            for server in reversed(servers):
                server.stop()


def tree(process: psutil.Process) -> list[psutil.Process]:
    """``process`` and its children (gunicorn's or Dramatiq's workers); none
    once it is gone."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_s(processes: Iterable[psutil.Process]) -> float:
    """CPU seconds (user + system) of ``processes`` so far; one that has
    ended counts for nothing."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


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
            return tree(psutil.Process(self.processes[name].pid))
        except psutil.NoSuchProcess:
            return []

    def cpu_s(self, name: str) -> float:
        """CPU seconds (user + system) of the process ``name``'s tree so far."""
        return cpu_s(self.tree(name))

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


# Checking which code the processes of a checkout run.

GUNICORN_LOADER = """
import sys
sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # as for the gunicorn script
sys.argv = ["gunicorn", "web.wsgi:application()", "-c", "python:web.gunicorn_conf"]
from gunicorn.app.wsgiapp import WSGIApplication
WSGIApplication()  # gunicorn's config loading: its chdir, then the -c python: module
import web.wsgi
print("FILES", web.gunicorn_conf.__file__, web.wsgi.__file__)
"""
MODULE_LOADER = """
import domain, infra, web, workers.serve, workers.actors
print("FILES", domain.__file__, infra.__file__, web.__file__, workers.serve.__file__, workers.actors.__file__)
"""


def check_imports(root: Path, env: dict[str, str]) -> list[str]:
    """The files of the project's modules as gunicorn and ``python -m``
    started with cwd=``root`` find them; each must be under ``root``."""
    files = []
    for code in (GUNICORN_LOADER, MODULE_LOADER):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, check=True, capture_output=True, text=True
        ).stdout
        files += next(line.split()[1:] for line in out.splitlines() if line.startswith("FILES "))
    outside = [f for f in files if not Path(f).resolve().is_relative_to(root.resolve())]
    if outside:
        raise RuntimeError(f"processes started in {root} would import {outside}")
    return files
