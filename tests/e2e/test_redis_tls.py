"""The Procfile's processes on a ``rediss://`` Redis whose certificate no
system trusts, as a platform's managed Redis has: they serve with
``REDIS_TLS_VERIFY=none`` and, left verifying, say why Redis is refused."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace

import pytest

from infra.embedded import free_port
from tests.conftest import cleanup, isolated_settings
from tests.e2e.conftest import PROCFILE, ROOT, Stack, procfile_env, stop_all, wait_until_serving

MUG = {"sku": "TLS-E2E-MUG", "name": "Mug", "price_cents": 1250, "currency": "EUR", "stock": 3}


def started_stack(backends, tls_redis, tmp_path_factory, names, **env) -> Stack:
    own = isolated_settings(backends, "e2e_tls")
    settings = replace(own, redis_url=tls_redis.url, redis_tls_verify=False)
    port = free_port()
    stack_env = {**procfile_env(settings, port), **env}
    logs = tmp_path_factory.mktemp("logs")
    stack = Stack(f"http://127.0.0.1:{port}", settings, {}, logs, stack_env)
    try:
        for name in names:
            stack.start_process(name)
        wait_until_serving(stack.url, stack.processes["web"])
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    stop_all(stack.processes.values())
    cleanup(stack.settings)


@pytest.fixture(scope="module")
def tls_stack(backends, tls_redis, tmp_path_factory):
    """web, worker and projector with ``REDIS_TLS_VERIFY=none``, after the release step."""
    stack = started_stack(
        backends, tls_redis, tmp_path_factory, ("web", "worker", "projector"), REDIS_TLS_VERIFY="none"
    )
    try:
        release = subprocess.run(
            ["sh", "-c", PROCFILE["release"]], cwd=ROOT, env=stack.env, capture_output=True, timeout=60
        )
        assert release.returncode == 0, release.stderr.decode()
        yield stack
    finally:
        stop_stack(stack)


def test_a_command_goes_through_to_the_read_model_over_tls(tls_stack):
    assert tls_stack.get("/ready").json() == {"status": "ready", "redis": "ok", "mongodb": "ok"}
    accepted = tls_stack.post("/products", json=MUG)
    assert accepted.status_code == 202, accepted.text
    command_id, product_id = accepted.json()["command_id"], accepted.json()["product_id"]
    assert tls_stack.wait_for(command_id)["status"] == "succeeded", tls_stack.tail()
    product = tls_stack.get(
        f"/products/{product_id}", params={"after": command_id}, headers={"Prefer": "wait=10"}
    )
    assert product.status_code == 200 and product.json()["sku"] == MUG["sku"], tls_stack.tail()
    assert product.headers["Read-Model-Stale"] == "false"


def test_a_web_left_verifying_is_not_ready_and_logs_why(backends, tls_redis, tmp_path_factory):
    # Given web with the default REDIS_TLS_VERIFY=required
    stack = started_stack(backends, tls_redis, tmp_path_factory, ("web",))
    try:
        # I expect it not ready, naming Redis, and its log saying what to set
        answer = stack.get("/ready")
        assert answer.status_code == 503 and answer.json()["down"] == ["redis"]
        deadline = time.monotonic() + 10
        while "REDIS_TLS_VERIFY=none" not in stack.tail() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "certificate verify failed" in stack.tail() and "REDIS_TLS_VERIFY=none" in stack.tail()
    finally:
        stop_stack(stack)
