"""The catalog over HTTP, against the Procfile's processes: every command,
the list's filters and pages, history, Idempotency-Key, and each refusal."""

import uuid

import pytest

UNKNOWN = "00000000-0000-4000-8000-00000000dead"


def create(stack, **fields):
    body = {"sku": f"E2E-{uuid.uuid4().hex[:10]}", "name": "Mug", "price_cents": 1250, "currency": "EUR"}
    body.update(fields)
    accepted = stack.post("/products", json=body)
    assert accepted.status_code == 202, accepted.text
    status = stack.wait_for(accepted.json()["command_id"])
    assert status["status"] == "succeeded", status
    return accepted.json()["product_id"]


def run(stack, answer):
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"] == f"/commands/{answer.json()['command_id']}"
    return stack.wait_for(answer.json()["command_id"])


def test_patch_changes_details_and_price(stack):
    product_id = create(stack, description="plain", category="kitchen")
    status = run(
        stack,
        stack.patch(
            f"/products/{product_id}", json={"name": "Big mug", "description": None, "price_cents": 990}
        ),
    )
    assert (status["status"], status["version"]) == ("succeeded", 3)
    product = stack.wait_for_product(product_id, version=3)
    assert (product["name"], product["description"], product["category"], product["price_cents"]) == (
        "Big mug", None, "kitchen", 990
    )  # fmt: skip
    assert product["sku"].startswith("E2E-") and product["currency"] == "EUR"


def test_stock_adjustments_and_their_refusal(stack):
    product_id = create(stack, stock=2)
    assert (
        run(
            stack,
            stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": 5, "reason": "delivery"}),
        )["version"]
        == 2
    )
    assert (
        run(stack, stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": -3}))["version"]
        == 3
    )
    refused = run(stack, stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": -5}))
    assert refused["status"] == "rejected" and refused["error"]["code"] == "insufficient_stock"
    assert stack.wait_for_product(product_id, version=3)["stock_available"] == 4


@pytest.mark.parametrize(
    "send",
    [
        lambda s: s.patch(f"/products/{UNKNOWN}", json={"name": "x"}),
        lambda s: s.post(f"/products/{UNKNOWN}/stock-adjustments", json={"delta": 1}),
    ],
)
def test_a_command_on_an_unknown_product_ends_rejected(stack, send):
    status = run(stack, send(stack))
    assert status["status"] == "rejected" and status["error"]["code"] == "product_not_found"


def test_history_lists_events_in_version_order(stack):
    product_id = create(stack, stock=1)
    run(stack, stack.patch(f"/products/{product_id}", json={"price_cents": 5, "category": "sale"}))
    last = run(stack, stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": 2}))
    items = stack.get(f"/products/{product_id}/history").json()["items"]
    assert [(e["type"], e["version"]) for e in items] == [
        ("ProductCreated", 1), ("ProductDetailsChanged", 2), ("ProductPriceChanged", 3), ("StockAdjusted", 4)
    ]  # fmt: skip
    assert items[2]["data"] == {"price_cents": 5, "previous_price_cents": 1250}
    assert items[3]["command_id"] == last["command_id"]
    assert items[1]["command_id"] == items[2]["command_id"]
    assert all(e["recorded_at"].endswith("Z") for e in items)
    assert stack.get(f"/products/{UNKNOWN}/history").status_code == 404


def test_listing_filters_and_pages(stack):
    category = f"e2e-{uuid.uuid4().hex[:8]}"
    prices = [500, 100, 900, 300, 700, 200, 800]
    ids = [
        create(stack, name=f"Item {i}", price_cents=p, category=category, stock=i % 2)
        for i, p in enumerate(prices)
    ]
    for product_id in ids:
        stack.wait_for_product(product_id)
    # three pages, sorted by price, each item once
    seen, cursor, pages = [], None, 0
    while True:
        params = {"category": category, "sort": "price_cents", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = stack.get("/products", params=params).json()
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [p["price_cents"] for p in seen] == sorted(prices)
    assert len({p["id"] for p in seen}) == 7
    # filters
    in_stock = stack.get("/products", params={"category": category, "in_stock": "true", "limit": 100}).json()
    assert {p["name"] for p in in_stock["items"]} == {"Item 1", "Item 3", "Item 5"}
    by_price = stack.get(
        "/products",
        params={"category": category, "min_price_cents": 200, "max_price_cents": 700, "sort": "-price_cents"},
    ).json()
    assert [p["price_cents"] for p in by_price["items"]] == [700, 500, 300, 200]
    assert by_price["next_cursor"] is None


def test_an_idempotency_key_replays_the_first_answer(stack):
    product_id = create(stack)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": 4}, headers=key)
    again = stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": 4}, headers=key)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = stack.post(f"/products/{product_id}/stock-adjustments", json={"delta": 5}, headers=key)
    assert other.status_code == 422
    run(stack, first)
    history = stack.get(f"/products/{product_id}/history").json()["items"]
    assert [e["type"] for e in history] == ["ProductCreated", "StockAdjusted"]


def test_two_creates_with_one_key_make_one_product(stack):
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"sku": f"E2E-{uuid.uuid4().hex[:10]}", "name": "Mug", "price_cents": 1, "currency": "EUR"}
    first = stack.post("/products", json=body, headers=key).json()
    again = stack.post("/products", json=body, headers=key).json()
    assert again["product_id"] == first["product_id"]


@pytest.mark.parametrize(
    "method, path, kwargs, status",
    [
        ("post", "/products", {"data": "{", "headers": {"Content-Type": "application/json"}}, 400),
        ("post", "/products", {"json": {"sku": "x"}}, 422),
        (
            "post",
            "/products",
            {"json": {"sku": "X", "name": "n", "price_cents": 1, "currency": "EUR", "x": 1}},
            422,
        ),
        (
            "post",
            "/products",
            {"data": "sku=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            415,
        ),
        ("post", "/products", {"json": {"name": "x" * 70_000}}, 413),
        ("patch", f"/products/{UNKNOWN}", {"json": {}}, 422),
        ("patch", f"/products/{UNKNOWN}", {"json": {"sku": "NEW"}}, 422),
        ("post", f"/products/{UNKNOWN}/stock-adjustments", {"json": {"delta": 0}}, 422),
        ("get", "/products?limit=0", {}, 400),
        ("get", "/products?sort=$where", {}, 400),
        ("get", "/products?min_price_cents=abc", {}, 400),
        ("get", "/products?colour=red", {}, 400),
        ("get", "/products?cursor=forged.cursor", {}, 400),
        ("get", "/nowhere", {}, 404),
        ("get", "/products/not-a-uuid", {}, 404),
        ("patch", "/products/not-a-uuid", {"json": {"name": "x"}}, 404),
        ("get", "/products/not-a-uuid/history", {}, 404),
        ("delete", "/products", {}, 405),
        ("put", f"/products/{UNKNOWN}", {"json": {}}, 405),
        ("get", f"/products/{UNKNOWN}/stock-adjustments", {}, 405),
    ],
)
def test_each_refused_request_gets_its_status_as_a_problem(stack, method, path, kwargs, status):
    import requests

    answer = requests.request(method, stack.url + path, timeout=10, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["title"]
    if status == 405:
        assert answer.headers["Allow"]
    if status in (400, 422) and path != "/nowhere" and "Malformed" not in problem["title"]:
        assert problem["errors"]
