"""Read your own writes over HTTP, against the Procfile's processes: after=,
the freshness headers on every query route, and healing by catch-up."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from domain.events import StockAdjusted
from infra.commits import Commit
from infra.eventstore import EventStore
from infra.mongo import connect

STACK_ENV = {"WEB_CONCURRENCY": "1", "WEB_THREADS": "32", "CATCH_UP_INTERVAL": "1"}


def create(stack, stock=5):
    body = {
        "sku": f"E2E-{uuid.uuid4().hex[:10]}",
        "name": "Mug",
        "price_cents": 700,
        "currency": "EUR",
        "stock": stock,
    }
    return stack.post("/products", json=body).json()


def test_after_returns_the_new_data_once_projected(stack, capsys):
    timings = []
    for _ in range(5):
        accepted = create(stack)
        started = time.monotonic()
        answer = stack.get(
            f"/products/{accepted['product_id']}",
            params={"after": accepted["command_id"]},
            headers={"Prefer": "wait=5"},
        )
        timings.append(time.monotonic() - started)
        assert answer.status_code == 200 and answer.json()["version"] == 1
        assert answer.headers["Read-Model-Stale"] == "false"
        assert answer.headers["Preference-Applied"] == "wait=5"
    with capsys.disabled():
        print(
            f"\nafter= at idle, create then read: median {sorted(timings)[2] * 1000:.0f} ms of {len(timings)}"
        )
    # a list route waits for the document of the stream the command touched
    accepted = create(stack)
    listed = stack.get("/products", params={"after": accepted["command_id"], "limit": 100})
    assert (
        accepted["product_id"] in {p["id"] for p in listed.json()["items"]}
        or listed.headers["Read-Model-Stale"] == "true"
    )
    assert stack.get("/products", params={"after": str(uuid.uuid4())}).status_code == 400


def test_with_the_projector_stopped_after_answers_stale_in_time_and_others_are_served(stack):
    accepted = create(stack)
    product_id = accepted["product_id"]
    assert (
        stack.get(f"/products/{product_id}", params={"after": accepted["command_id"]}).json()["version"] == 1
    )
    stack.stop_process("projector")
    try:
        adjusted = stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": 1}).json()
        assert stack.wait_for(adjusted["command_id"])["status"] == "succeeded"
        started = time.monotonic()
        answer = stack.get(
            f"/products/{product_id}", params={"after": adjusted["command_id"]}, headers={"Prefer": "wait=2"}
        )
        elapsed = time.monotonic() - started
        assert 2.0 <= elapsed <= 3.0, f"{elapsed:.2f} s; stale {answer.headers['Read-Model-Stale']}"
        assert answer.status_code == 200 and answer.json()["version"] == 1
        assert (
            answer.headers["Read-Model-Stale"] == "true" and answer.headers["Preference-Applied"] == "wait=2"
        )
        assert float(answer.headers["Read-Model-Lag"]) > 0

        # twenty clients wait at once; the web process still answers others
        def wait_for_it(_):
            return requests.get(
                stack.url + f"/products/{product_id}",
                params={"after": adjusted["command_id"]},
                headers={"Prefer": "wait=4"},
                timeout=10,
            )

        with ThreadPoolExecutor(max_workers=20) as pool:
            waiting = [pool.submit(wait_for_it, i) for i in range(20)]
            time.sleep(0.5)  # let them all start waiting
            for _ in range(5):
                started = time.monotonic()
                assert stack.get(f"/products/{product_id}").status_code == 200
                assert stack.get("/products", params={"limit": 5}).status_code == 200
                assert time.monotonic() - started < 1.0
            answers = [w.result() for w in waiting]
        assert all(a.status_code == 200 and a.headers["Read-Model-Stale"] == "true" for a in answers)
    finally:
        stack.start_process("projector")
    # once the projector is back, the wait is met
    answer = stack.get(
        f"/products/{product_id}", params={"after": adjusted["command_id"]}, headers={"Prefer": "wait=10"}
    )
    assert answer.headers["Read-Model-Stale"] == "false" and answer.json()["version"] == 2


def test_every_query_route_says_how_fresh_it_is(stack):
    accepted = create(stack)
    product_id = accepted["product_id"]
    customer = f"cust-{uuid.uuid4().hex[:6]}"
    order = stack.post(
        "/orders",
        json={
            "customer_id": customer,
            "currency": "EUR",
            "lines": [{"product_id": product_id, "quantity": 1}],
        },
    ).json()
    # Once the order is confirmed, its reservation is in the product too:
    # nothing moves the ETags below.
    deadline = time.monotonic() + 30
    while True:
        wait = {"params": {"after": order["command_id"]}, "headers": {"Prefer": "wait=5"}}
        placed = stack.get(f"/orders/{order['order_id']}", **wait)
        assert placed.status_code == 200, placed.text
        if placed.json()["status"] != "pending":
            break
        assert time.monotonic() < deadline, placed.json()
        time.sleep(0.2)
    routes = {
        f"/products/{product_id}": True,
        f"/products/{product_id}/history": True,
        f"/orders/{order['order_id']}": True,
        f"/orders/{order['order_id']}/history": True,
        "/products": False,
        f"/customers/{customer}/orders": False,
    }
    for path, item in routes.items():
        answer = stack.get(path, params={"after": order["command_id"]})
        assert answer.status_code == 200, path
        assert answer.headers["Read-Model-Updated-At"].endswith("Z"), path
        assert float(answer.headers["Read-Model-Lag"]) >= 0, path
        assert answer.headers["Preference-Applied"] == "wait=2", path
        if item:
            etag = answer.headers["ETag"]
            assert answer.headers["Read-Model-Version"] == etag.strip('"'), path
            assert stack.get(path, headers={"If-None-Match": etag}).status_code == 304, path
            assert stack.get(path, headers={"If-None-Match": '"0"'}).status_code == 200, path


def test_a_lost_notification_is_healed_by_the_catch_up(stack):
    accepted = create(stack, stock=2)
    product_id = accepted["product_id"]
    assert stack.wait_for_product(product_id)["stock_available"] == 2
    # a commit whose notification is lost: written to the store, never announced
    db = connect(stack.settings, appname="tests")
    try:
        EventStore(db).append(
            Commit.new(
                stream_id=product_id,
                stream_type="product",
                after_version=1,
                events=[StockAdjusted(delta=3, reason="found")],
                command_id=str(uuid.uuid4()),
                correlation_id="lost",
            )
        )
    finally:
        db.client.close()
    started = time.monotonic()
    healed = stack.wait_for_product(product_id, version=2, timeout=60)
    assert healed["stock_available"] == 5
    assert time.monotonic() - started < 60
