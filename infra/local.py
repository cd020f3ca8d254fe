"""``make run``: the whole service on this machine.

Starts embedded Redis and MongoDB for whichever of ``REDIS_URL`` and
``MONGODB_URI`` is unset, runs the Procfile's ``release`` once, then its
``web``, ``worker`` and ``projector`` under honcho, web on
127.0.0.1:``PORT``.  Ctrl-C or SIGTERM stops all of it, servers last."""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from honcho.environ import parse_procfile

from infra.embedded import env_with_servers

PROCESSES = ("web", "worker", "projector")


def main() -> int:
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

    data_dir = Path(os.environ.get("DATA_DIR") or root / ".data")
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "run.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"another `make run` is using {data_dir}; stop it first (or set DATA_DIR)")
        return 1
    env, servers = env_with_servers(dict(os.environ), data_dir)
    try:
        # The Procfile's commands (python, gunicorn, dramatiq) are this venv's.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("PORT", "8000")
        env["WEB_HOST"] = "127.0.0.1"
        if not env.get("API_TOKENS"):
            env["ALLOW_ANONYMOUS"] = "1"
            say("API_TOKENS is not set: serving without tokens (ALLOW_ANONYMOUS=1), on 127.0.0.1 only")
        if not env.get("CURSOR_SECRET"):
            # Every web process of this run gets it: their cursors agree.
            env["CURSOR_SECRET"] = secrets.token_urlsafe(32)
            say("CURSOR_SECRET is not set: cursors are signed with a secret made for this run")
        for server in servers:
            say(f"embedded {server.name} on {server.url} (pid {server.pid}, files in {data_dir})")
        if not stopping:
            say("release: " + procfile.processes["release"])
            code = subprocess.call(["sh", "-c", procfile.processes["release"]], cwd=root, env=env)
            if code:
                say(f"release failed with exit code {code}")
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
                env["PORT"],
                *PROCESSES,
            ],
            cwd=root,
            env=env,
        )
        say(f"serving on http://127.0.0.1:{env['PORT']} (Ctrl-C stops everything)")
        while honcho.poll() is None:
            # Stop when asked, or when whoever started us (make) is gone.
            if stopping or os.getppid() != parent:
                honcho.send_signal(signal.SIGTERM)
                try:
                    honcho.wait(20)
                except subprocess.TimeoutExpired:
                    honcho.kill()
                break
            time.sleep(0.2)
        return 0 if stopping else honcho.wait()
    finally:
        for server in reversed(servers):
            server.stop()
        say("stopped")


def say(text: str) -> None:
    print(f"[make run] {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
