"""``make run``'s launcher: everything up on 127.0.0.1:PORT, said once
``/health`` answers, its servers published for the tools while it runs,
and a SIGTERM or Ctrl-C leaves no process behind."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from infra.embedded import free_port
from tests.conftest import cleanup, isolated_settings
from tests.e2e.conftest import ROOT, Stack


def launcher_lines(log: Path) -> list[dict]:
    """The launcher's own lines (JSON, service ``launcher``)."""
    records = [
        json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{")
    ]
    return [record for record in records if record.get("service") == "launcher"]


def wait_for_line(log: Path, message: str, launcher: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(record["message"] == message for record in launcher_lines(log)):
            return
        if launcher.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {message!r} within {timeout} s:\n{log.read_text(errors='replace')[-5000:]}")


def without_servers(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MONGODB_URI")}
    env.update(DATA_DIR=str(tmp_path / "data"), **changes)
    return env


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_the_launcher_serves_and_stops_everything_it_started(tmp_path, backends, stop_signal):
    port = free_port()
    env = without_servers(tmp_path, PORT=str(port), WEB_CONCURRENCY="1")
    settings = None
    if os.environ.get("MONGODB_URI") or os.environ.get("REDIS_URL"):
        # External servers: use them, under names of this test's own.
        settings = isolated_settings(backends, "run")
        env.update(
            MONGODB_URI=settings.mongodb_uri,
            REDIS_URL=settings.redis_url,
            REDIS_NAMESPACE=settings.redis_namespace,
        )
    log = open(tmp_path / "run.log", "wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "infra.local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    started: list[psutil.Process] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_line(
            tmp_path / "run.log", f"[make run] serving on {url} (Ctrl-C stops everything)", launcher, 90
        )
        # Said once web answers, not before.
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
        published = json.loads((tmp_path / "data" / "servers.json").read_text())
        assert published["WEB_URL"] == url and published["pid"] == launcher.pid
        if settings is not None:
            assert published["MONGODB_URI"] == settings.mongodb_uri
            assert published["REDIS_NAMESPACE"] == settings.redis_namespace
        # A tool finds the servers of the run without being told them.
        tool = subprocess.run(
            [sys.executable, "-m", "workers.cli", "deadletters", "list"],
            cwd=ROOT, env=without_servers(tmp_path), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert tool.returncode == 0 and tool.stdout.strip() == "0 dead letter(s)", tool.stderr
        assert tool.stderr.strip() == (
            f"shop deadletters: using the servers of `make run` (pid {launcher.pid}, "
            f"{tmp_path / 'data' / 'servers.json'}): REDIS_URL={published['REDIS_URL']}, "
            f"MONGODB_URI={published['MONGODB_URI']}"
        )
        stack = Stack(url, settings, {}, tmp_path)
        accepted = stack.post(
            "/products", json={"sku": "RUN-1", "name": "Mug", "price_cents": 5, "currency": "EUR"}
        )
        assert accepted.status_code == 202
        assert stack.wait_for(accepted.json()["command_id"])["status"] == "succeeded"
        assert stack.wait_for_product(accepted.json()["product_id"])["sku"] == "RUN-1"
        started = psutil.Process(launcher.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        for expected in ("honcho", "gunicorn", "workers.serve"):
            assert expected in names
        if settings is None:
            assert "nx-27017" in names and "redis-server" in names
        # When it is asked to stop
        launcher.send_signal(stop_signal)
        assert launcher.wait(60) == 0
        # I expect every process it started to be gone
        _, alive = psutil.wait_procs(started, timeout=15)
        assert alive == [], (tmp_path / "run.log").read_text()
        # and its servers withdrawn.
        assert not (tmp_path / "data" / "servers.json").exists()
        assert launcher_lines(tmp_path / "run.log")[-1]["message"] == "[make run] stopped"
    finally:
        # On a failure above, stop it the way a user would, then make sure.
        if launcher.poll() is None:
            left = psutil.Process(launcher.pid).children(recursive=True)
            launcher.send_signal(signal.SIGTERM)
            try:
                launcher.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
            started = started or left
        for p in started:
            if p.is_running():
                p.kill()
        log.close()
        if settings is not None:
            cleanup(settings)


def test_a_taken_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        refused = subprocess.run(
            [sys.executable, "-m", "infra.local"], cwd=ROOT, env=without_servers(tmp_path, PORT=str(port)),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert refused.returncode == 1
    (line,) = refused.stdout.splitlines()
    record = json.loads(line)
    assert record["service"] == "launcher" and record["level"] == "ERROR"
    assert (
        record["message"]
        == f"[make run] port {port} on 127.0.0.1 is taken: stop what listens there, or set PORT"
    )
    assert refused.stderr == ""
    # No server was started for it.
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["run.lock"]
