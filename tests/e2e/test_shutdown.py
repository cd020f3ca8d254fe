"""A worker stopped by SIGTERM (to its whole process group, as a platform
does) in the middle of a burst of 200 commands: every accepted command
still ends final, none takes effect twice."""

import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

STACK_ENV = {"WORKER_THREADS": "4"}


def test_a_worker_stopped_mid_burst_loses_nothing_and_doubles_nothing(stack, capsys):
    products = []
    for _i in range(4):
        body = {"sku": f"SD-{uuid.uuid4().hex[:8]}", "name": "Mug", "price_cents": 5, "currency": "EUR"}
        accepted = stack.post("/products", json=body).json()
        assert stack.wait_for(accepted["command_id"])["status"] == "succeeded"
        products.append(accepted["product_id"])

    def adjust(i):
        answer = stack.post(f"/products/{products[i % 4]}/stock-adjustments", json={"delta": 1})
        assert answer.status_code == 202
        return answer.json()["command_id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        first = list(pool.map(adjust, range(100)))
        # the platform stops the worker while messages are in flight
        worker = stack.processes["worker"]
        signalled = time.monotonic()
        os.killpg(worker.pid, signal.SIGTERM)
        second = list(pool.map(adjust, range(100, 200)))
    stack.stop_process("worker")  # returns when every process of the group is gone
    stop_took = time.monotonic() - signalled
    # the worker process stopped gracefully, not killed by the second SIGTERM
    assert "Killing worker process" not in (stack.logs / "worker.log").read_text()
    # ... and starts it again
    stack.start_process("worker")
    statuses = [stack.wait_for(command_id, timeout=90) for command_id in first + second]
    assert [s["status"] for s in statuses].count("succeeded") == 200
    # each took effect exactly once: 200 adjustments of +1 in the event store
    total = 0
    for product_id in products:
        history = stack.get(f"/products/{product_id}/history").json()["items"]
        adjustments = [e for e in history if e["type"] == "StockAdjusted"]
        assert len({e["command_id"] for e in adjustments}) == len(adjustments)
        total += len(adjustments)
    assert total == 200
    with capsys.disabled():
        print(f"\nworker stopped {stop_took:.1f} s after SIGTERM; 200/200 commands succeeded once")
    assert stop_took < 30
