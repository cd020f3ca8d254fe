"""The order routes through ``falcon.testing`` with fakes."""

import pytest

from tests.unit.fakes import IDS, FakeHistory, FakeOrderViews, make_client

P1, P2, ORDER = str(IDS[60]), str(IDS[61]), IDS[62]
VALID = {"customer_id": "cust-1", "currency": "EUR", "lines": [{"product_id": P1, "quantity": 2}]}


def test_placing_an_order_is_queued_and_accepted(client, bus):
    body = {**VALID, "lines": [{"product_id": P1, "quantity": 2}, {"product_id": P2.upper(), "quantity": 1}]}
    result = client.simulate_post("/orders", json=body)
    assert result.status_code == 202
    assert result.json == {"command_id": str(IDS[1]), "status": "accepted", "order_id": str(IDS[0])}
    assert result.headers["Location"] == f"/commands/{IDS[1]}"
    [envelope] = bus.submitted
    assert envelope.type == "PlaceOrder" and envelope.stream_id == str(IDS[0])
    assert envelope.payload["lines"] == [{"product_id": P1, "quantity": 2}, {"product_id": P2, "quantity": 1}]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"customer_id": ""}, "customer_id"),
        ({"customer_id": "a b"}, "customer_id"),
        ({"customer_id": "x" * 65}, "customer_id"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"lines": []}, "lines"),
        ({"lines": [{"product_id": P1, "quantity": 1}] * 51}, "lines"),
        ({"lines": [{"product_id": P1, "quantity": 1}, {"product_id": P1, "quantity": 2}]}, "lines"),
        ({"lines": [{"product_id": "nope", "quantity": 1}]}, "lines.0.product_id"),
        ({"lines": [{"product_id": P1, "quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"product_id": P1, "quantity": 1001}]}, "lines.0.quantity"),
        ({"lines": [{"product_id": P1, "quantity": 1.0}]}, "lines.0.quantity"),
        ({"lines": [{"product_id": P1}]}, "lines.0.quantity"),
        ({"lines": [{"product_id": P1, "quantity": 1, "price": 5}]}, "lines.0.price"),
        ({"lines": "all"}, "lines"),
        ({"total": 5}, "total"),
    ],
)
def test_a_bad_order_gets_422_naming_the_field(client, bus, change, field):
    result = client.simulate_post("/orders", json={**VALID, **change})
    assert result.status_code == 422
    assert list(result.json["errors"]) == [field]
    assert bus.submitted == []


@pytest.mark.parametrize("action, command", [("cancel", "CancelOrder"), ("ship", "ShipOrder")])
def test_cancel_and_ship_need_no_body_and_no_content_type(client, bus, action, command):
    result = client.simulate_post(f"/orders/{ORDER}/{action}")
    assert result.status_code == 202
    assert result.json["order_id"] == str(ORDER)
    [envelope] = bus.submitted
    assert (envelope.type, envelope.payload) == (command, {"order_id": str(ORDER)})


def test_an_order_route_with_a_bad_id_is_404(client):
    for path in ("/orders/nope", "/orders/nope/cancel", "/orders/nope/history"):
        assert client.simulate_get(path).status_code == 404
    assert client.simulate_post("/orders/nope/cancel").status_code == 404
    assert client.simulate_get(f"/orders/{ORDER}").status_code == 404


def test_reading_an_order_and_its_history():
    order = {
        "id": str(ORDER),
        "customer_id": "c",
        "status": "pending",
        "version": 1,
        "updated_at": "2026-11-26T00:00:00.000Z",
    }
    events = [{"type": "OrderPlaced", "version": 1, "data": {}, "recorded_at": "t", "command_id": "x"}]
    client = make_client(order_views=FakeOrderViews([order]), history=FakeHistory({str(ORDER): events}))
    assert client.simulate_get(f"/orders/{ORDER}").json == order
    assert client.simulate_get(f"/orders/{ORDER}/history").json == {"items": events}


def test_customer_orders_check_the_customer_and_the_query():
    views = FakeOrderViews(
        [
            {
                "id": str(i),
                "customer_id": "cust-1",
                "placed_at": f"2026-11-26T00:00:0{i}.000Z",
                "updated_at": f"2026-11-26T00:00:0{i}.000Z",
                "version": 1,
            }
            for i in range(3)
        ]
    )
    client = make_client(order_views=views)
    first = client.simulate_get("/customers/cust-1/orders", query_string="limit=2&status=confirmed")
    assert first.status_code == 200
    assert views.listed[-1] == ("cust-1", "confirmed", 2, None)
    cursor = first.json["next_cursor"]
    assert (
        client.simulate_get(
            "/customers/cust-1/orders", query_string=f"limit=2&status=confirmed&cursor={cursor}"
        ).status_code
        == 200
    )
    # a cursor is bound to its customer and status
    assert (
        client.simulate_get(
            "/customers/cust-2/orders", query_string=f"status=confirmed&cursor={cursor}"
        ).status_code
        == 400
    )
    assert client.simulate_get("/customers/cust-1/orders", query_string=f"cursor={cursor}").status_code == 400
    assert client.simulate_get("/customers/cust-1/orders", query_string="status=lost").status_code == 400
    assert client.simulate_get("/customers/bad%20id/orders").status_code == 404
