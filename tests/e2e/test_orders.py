"""Orders over HTTP against the Procfile's processes, with two worker
processes: fifty customers race for ten mugs, and exactly ten win."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

STACK_ENV = {"WORKER_PROCESSES": "2", "WORKER_THREADS": "8"}
FINAL = {"confirmed", "rejected", "cancelled", "shipped"}


def create_product(stack, stock, currency="EUR", price=1250):
    body = {
        "sku": f"E2E-{uuid.uuid4().hex[:10]}",
        "name": "Mug",
        "price_cents": price,
        "currency": currency,
        "stock": stock,
    }
    accepted = stack.post("/products", json=body).json()
    assert stack.wait_for(accepted["command_id"])["status"] == "succeeded"
    return accepted["product_id"]


def place(stack, customer, lines, currency="EUR"):
    answer = stack.post("/orders", json={"customer_id": customer, "currency": currency, "lines": lines})
    assert answer.status_code == 202, answer.text
    return answer.json()


def wait_orders(stack, order_ids, statuses=FINAL, timeout=120.0):
    """Poll every order until each has one of ``statuses``; a deadline, no fixed sleep."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict] = {}
    delay = 0.05
    while time.monotonic() < deadline:
        for order_id in [o for o in order_ids if o not in found]:
            answer = stack.get(f"/orders/{order_id}")
            if answer.status_code == 200 and answer.json()["status"] in statuses:
                found[order_id] = answer.json()
        if len(found) == len(order_ids):
            return found
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise AssertionError(
        f"{len(order_ids) - len(found)} orders not {statuses} after {timeout} s\n{stack.tail()}"
    )


def wait_stock(stack, product_id, available, reserved, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        product = stack.get(f"/products/{product_id}").json()
        if (product["stock_available"], product["stock_reserved"]) == (available, reserved):
            return product
        time.sleep(0.1)
    raise AssertionError(
        f"stock is {product['stock_available']}/{product['stock_reserved']}, not {available}/{reserved}"
    )


def test_fifty_orders_for_ten_in_stock(stack, capsys):
    product_id = create_product(stack, stock=10)
    customers = [f"cust-{i:02d}" for i in range(50)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        placed = list(
            pool.map(lambda c: place(stack, c, [{"product_id": product_id, "quantity": 1}]), customers)
        )
    accepted_in = time.monotonic() - started
    # the place-order command succeeds once the order is placed
    assert stack.wait_for(placed[0]["command_id"])["status"] == "succeeded"
    orders = wait_orders(stack, [p["order_id"] for p in placed])
    settled_in = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\n50 orders: accepted in {accepted_in:.2f} s, all confirmed or rejected in {settled_in:.2f} s"
        )

    confirmed = [o for o in orders.values() if o["status"] == "confirmed"]
    rejected = [o for o in orders.values() if o["status"] == "rejected"]
    assert (len(confirmed), len(rejected)) == (10, 40)
    assert all(
        o["lines"][0]["reason"] == "insufficient_stock" and o["lines"][0]["status"] == "refused"
        for o in rejected
    )
    for order in confirmed:
        [line] = order["lines"]
        assert (line["status"], line["unit_price_cents"], line["line_total_cents"]) == (
            "reserved",
            1250,
            1250,
        )
        assert order["total_cents"] == 1250 and line["sku"].startswith("E2E-") and line["name"] == "Mug"
    wait_stock(stack, product_id, available=0, reserved=10)

    # cancelling three confirmed orders gives their stock back
    cancels = [stack.post(f"/orders/{o['id']}/cancel") for o in confirmed[:3]]
    assert all(c.status_code == 202 for c in cancels)
    wait_orders(stack, [o["id"] for o in confirmed[:3]], statuses={"cancelled"})
    wait_stock(stack, product_id, available=3, reserved=7)

    # shipping one more takes its reservation for good
    shipped = stack.post(f"/orders/{confirmed[3]['id']}/ship")
    assert shipped.status_code == 202
    assert stack.wait_for(shipped.json()["command_id"])["status"] == "succeeded"
    [order] = wait_orders(stack, [confirmed[3]["id"]], statuses={"shipped"}).values()
    assert order["lines"][0]["status"] == "shipped"
    wait_stock(stack, product_id, available=3, reserved=6)

    # a rejected order cannot be cancelled or shipped
    for action in ("cancel", "ship"):
        status = stack.wait_for(stack.post(f"/orders/{rejected[0]['id']}/{action}").json()["command_id"])
        assert (status["status"], status["error"]["code"]) == ("rejected", "invalid_order_status")


def test_an_order_is_rejected_for_currency_and_unknown_products(stack):
    euros = create_product(stack, stock=5)
    unknown = str(uuid.uuid4())
    mixed = place(
        stack, "cust-x", [{"product_id": euros, "quantity": 1}, {"product_id": unknown, "quantity": 1}]
    )
    dollars = place(stack, "cust-x", [{"product_id": euros, "quantity": 1}], currency="USD")
    orders = wait_orders(stack, [mixed["order_id"], dollars["order_id"]])
    lines = {line["product_id"]: line for line in orders[mixed["order_id"]]["lines"]}
    assert orders[mixed["order_id"]]["status"] == "rejected"
    assert lines[unknown]["reason"] == "product_not_found" and lines[unknown]["sku"] is None
    assert orders[dollars["order_id"]]["lines"][0]["reason"] == "currency_mismatch"
    wait_stock(stack, euros, available=5, reserved=0)


def test_customer_orders_newest_first_and_order_history(stack):
    product_id = create_product(stack, stock=100, price=300)
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    ids = []
    for quantity in (1, 2, 3, 4, 5):
        ids.append(place(stack, customer, [{"product_id": product_id, "quantity": quantity}])["order_id"])
        wait_orders(stack, ids[-1:])
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = stack.get(f"/customers/{customer}/orders", params=params).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    confirmed = stack.get(
        f"/customers/{customer}/orders", params={"status": "confirmed", "limit": 100}
    ).json()
    assert len(confirmed["items"]) == 5
    assert stack.get(f"/customers/{customer}/orders", params={"status": "shipped"}).json()["items"] == []
    history = stack.get(f"/orders/{ids[0]}/history").json()["items"]
    assert [e["type"] for e in history] == ["OrderPlaced", "OrderLineReserved", "OrderConfirmed"]
    assert [e["version"] for e in history] == [1, 2, 3]
    assert stack.get(f"/orders/{uuid.uuid4()}/history").status_code == 404
    assert stack.get(f"/orders/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"customer_id": "c", "currency": "EUR", "lines": []}, "lines"),
        (
            {"customer_id": "c", "currency": "EUR", "lines": [{"product_id": "x", "quantity": 1}]},
            "lines.0.product_id",
        ),
        (
            {
                "customer_id": "c c",
                "currency": "EUR",
                "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}],
            },
            "customer_id",
        ),
    ],
)
def test_a_bad_order_is_refused(stack, body, field):
    answer = stack.post("/orders", json=body)
    assert answer.status_code == 422 and field in answer.json()["errors"]
