"""One command's story in the JSON logs of every process: grep its
correlation id (the request's X-Request-Id) and see it end to end."""

import json
import time
import uuid


def lines(stack):
    found = []
    for path in stack.logs.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                record["_file"] = path.stem
                found.append(record)
    return found


def test_one_request_id_follows_an_order_through_every_process(stack):
    product = stack.post(
        "/products",
        json={
            "sku": f"L-{uuid.uuid4().hex[:8]}",
            "name": "Mug",
            "price_cents": 5,
            "currency": "EUR",
            "stock": 2,
        },
    ).json()
    stack.wait_for(product["command_id"])
    request_id = f"req-{uuid.uuid4().hex}"
    answer = stack.post(
        "/orders",
        json={
            "customer_id": "log",
            "currency": "EUR",
            "lines": [{"product_id": product["product_id"], "quantity": 1}],
        },
        headers={"X-Request-Id": request_id},
    )
    assert answer.headers["X-Request-Id"] == request_id
    order_id = answer.json()["order_id"]
    deadline = time.monotonic() + 30
    while (
        stack.get(f"/orders/{order_id}").json().get("status") != "confirmed" and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    time.sleep(0.5)  # let the last log lines reach their files
    story = [r for r in lines(stack) if r.get("correlation_id") == request_id]
    processes = {r["_file"] for r in story}
    messages = " | ".join(r["message"] for r in story)
    assert {"web", "worker", "projector"} <= processes, messages
    assert any(r["message"].startswith("POST /orders") for r in story)
    assert any(r["message"].startswith("queued PlaceOrder") for r in story)
    assert any(r["message"].startswith("committed") for r in story)
    assert any(r["message"].startswith("sent follow-up ReserveStock") for r in story)
    assert any(r["message"].startswith("command MarkLineReserved") for r in story)
    assert any(r["message"].startswith("projected") for r in story)
    # every line of it names its command
    assert all(r.get("command_id") for r in story if r["_file"] != "web" or "queued" in r["message"])
    # an unsafe request id is replaced, not echoed
    odd = stack.get("/products", headers={"X-Request-Id": "bad id\\x00"})
    assert odd.headers["X-Request-Id"] != "bad id\\x00"
