"""The metrics are there, and move when commands flow."""

import re
import time
import uuid

import requests

STACK_ENV = {"METRICS_TOKEN": "scrape-me"}


def scrape(stack) -> dict[str, float]:
    answer = requests.get(stack.url + "/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=10)
    assert answer.status_code == 200
    values = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def total(values, pattern):
    return sum(v for k, v in values.items() if re.fullmatch(pattern, k))


def test_metrics_are_guarded_present_and_move(stack):
    assert requests.get(stack.url + "/metrics", timeout=10).status_code == 401
    before = scrape(stack)
    for name in (
        "shop_queue_depth",
        "shop_dead_letter_queue_depth",
        "shop_dead_letters",
        "shop_projection_lag_versions",
        "shop_projection_lag_seconds",
    ):
        assert any(k.startswith(name) for k in before), name
    accepted = [
        stack.post(
            "/products",
            json={"sku": f"M-{uuid.uuid4().hex[:8]}", "name": "n", "price_cents": 1, "currency": "EUR"},
        ).json()
        for _ in range(5)
    ]
    for command in accepted:
        stack.wait_for(command["command_id"])
    stack.wait_for_product(accepted[-1]["product_id"])
    deadline = time.monotonic() + 10
    while True:
        after = scrape(stack)
        if (
            after.get('shop_projection_lag_versions{read_model="products"}', 1) == 0
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    assert (
        total(after, r'shop_commands_accepted_total\{type="CreateProduct"\}')
        >= total(before, r'shop_commands_accepted_total\{type="CreateProduct"\}') + 5
    )
    assert (
        total(
            after,
            r'shop_command_outcomes\{.*type="CreateProduct".*status="succeeded".*\}|shop_command_outcomes\{status="succeeded",type="CreateProduct"\}',
        )
        >= 5
    )
    assert total(after, r'shop_http_requests_total\{.*route="/products".*\}') >= 5
    assert total(after, r"shop_http_request_duration_seconds_count.*") > 0
    assert after['shop_projection_lag_versions{read_model="products"}'] == 0
