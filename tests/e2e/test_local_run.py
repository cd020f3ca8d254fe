"""``make run``'s launcher: everything up on 127.0.0.1:PORT, and a SIGTERM
or Ctrl-C leaves no process behind."""

import os
import signal
import subprocess
import sys

import psutil
import pytest

from infra.embedded import free_port
from tests.conftest import cleanup, isolated_settings
from tests.e2e.conftest import ROOT, Stack, wait_until_serving


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_the_launcher_serves_and_stops_everything_it_started(tmp_path, backends, stop_signal):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MONGODB_URI")}
    env.update(PORT=str(port), DATA_DIR=str(tmp_path / "data"), WEB_CONCURRENCY="1")
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
        wait_until_serving(url, launcher, timeout=60)
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
