"""Rebuild while the service runs: commands keep arriving, queries keep
answering, and a drift check afterwards finds nothing."""

import subprocess
import sys
import threading
import time
import uuid

from tests.e2e.conftest import ROOT

STACK_ENV = {"WORKER_PROCESSES": "1"}


def cli(stack, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "workers.rebuild", *args],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_a_rebuild_under_load_then_a_check_finds_no_drift(stack, capsys):
    products = []
    for i in range(10):
        body = {
            "sku": f"RB-{uuid.uuid4().hex[:8]}",
            "name": f"Item {i}",
            "price_cents": 100 + i,
            "currency": "EUR",
            "stock": 50,
        }
        products.append(stack.post("/products", json=body).json()["product_id"])
    for product_id in products:
        stack.wait_for_product(product_id)

    stop = threading.Event()
    accepted: list[str] = []
    slowest = [0.0]

    def load():
        i = 0
        while not stop.is_set() and i < 400:
            i += 1
            product_id = products[i % len(products)]
            if i % 3:
                answer = stack.post(
                    f"/products/{product_id}/stock-adjustments", json={"delta": 1 if i % 2 else -1}
                )
            else:
                answer = stack.post(
                    "/orders",
                    json={
                        "customer_id": "rb",
                        "currency": "EUR",
                        "lines": [{"product_id": product_id, "quantity": 1}],
                    },
                )
            accepted.append(answer.json()["command_id"])
            started = time.monotonic()
            assert stack.get(f"/products/{product_id}").status_code == 200
            slowest[0] = max(slowest[0], time.monotonic() - started)
            time.sleep(0.01)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        rebuilt = cli(stack, "all", "--quiet")
    finally:
        stop.set()
        loader.join(60)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "rebuilt products" in rebuilt.stdout and "rebuilt orders" in rebuilt.stdout
    for command_id in accepted:
        stack.wait_for(command_id)
    # let the read models settle, then compare them with a fresh replay
    deadline = time.monotonic() + 60
    while True:
        checked = cli(stack, "--check", "all")
        if checked.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    with capsys.disabled():
        print(f"\nrebuild under load: {len(accepted)} commands; slowest query {slowest[0] * 1000:.0f} ms")
        print(rebuilt.stdout.strip())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no drift" in checked.stdout
