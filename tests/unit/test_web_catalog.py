"""PATCH, stock adjustments, listing, history and Idempotency-Key handling,
through ``falcon.testing`` with fakes."""

import json

import pytest

from domain.limits import MAX_PRICE_CENTS
from infra.idempotency import KeyInFlight, KeyReused
from tests.unit.fakes import IDS, FakeHistory, FakeViews, make_client
from web.views import ProductFilter

PRODUCT = IDS[50]


# --- PATCH /products/{id} -------------------------------------------------


def test_patch_queues_only_the_fields_sent(client, bus):
    result = client.simulate_patch(f"/products/{PRODUCT}", json={"price_cents": 990, "description": None})
    assert result.status_code == 202
    assert result.json == {"command_id": str(IDS[0]), "status": "accepted", "product_id": str(PRODUCT)}
    assert result.headers["Location"] == f"/commands/{IDS[0]}"
    [envelope] = bus.submitted
    assert envelope.type == "UpdateProduct"
    assert envelope.payload == {
        "product_id": str(PRODUCT),
        "changes": {"price_cents": 990, "description": None},
    }


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "body"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"category": ""}, "category"),
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": None}, "price_cents"),
        ({"price_cents": "5"}, "price_cents"),
        ({"price_cents": MAX_PRICE_CENTS + 1}, "price_cents"),
        ({"sku": "NEW-SKU"}, "sku"),
        ({"currency": "USD"}, "currency"),
        ({"stock": 5}, "stock"),
    ],
)
def test_patch_refuses_a_bad_body_with_422(client, bus, body, field):
    result = client.simulate_patch(f"/products/{PRODUCT}", json=body)
    assert result.status_code == 422
    assert list(result.json["errors"]) == [field]
    assert bus.submitted == []


def test_patch_says_why_sku_cannot_change(client):
    result = client.simulate_patch(f"/products/{PRODUCT}", json={"sku": "X"})
    assert result.json["errors"]["sku"] == ["cannot be changed after the product is created"]


def test_patch_takes_a_merge_patch_as_it_takes_json(client, bus):
    body = json.dumps({"price_cents": 990, "description": None})
    for media_type in ("application/merge-patch+json", "application/merge-patch+json; charset=utf-8"):
        result = client.simulate_patch(
            f"/products/{PRODUCT}", body=body, headers={"Content-Type": media_type}
        )
        assert result.status_code == 202, result.json
    assert [e.payload["changes"] for e in bus.submitted] == [{"price_cents": 990, "description": None}] * 2


@pytest.mark.parametrize("media_type", ["application/json-patch+json", "text/plain", None])
def test_patch_refuses_other_media_types_saying_which_it_takes(client, bus, media_type):
    headers = {"Content-Type": media_type} if media_type else {}
    result = client.simulate_patch(f"/products/{PRODUCT}", body='{"name": "Cup"}', headers=headers)
    assert result.status_code == 415
    assert result.headers["Content-Type"] == "application/problem+json"
    assert result.headers["Accept-Patch"] == "application/json, application/merge-patch+json"
    assert bus.submitted == []


def test_a_merge_patch_is_for_patch_only(client, bus):
    headers = {"Content-Type": "application/merge-patch+json"}
    result = client.simulate_post(
        f"/products/{PRODUCT}/stock-adjustments", body='{"delta": 1}', headers=headers
    )
    assert result.status_code == 415 and "Accept-Patch" not in result.headers
    assert bus.submitted == []


# --- POST /products/{id}/stock-adjustments ----------------------------------


def test_a_stock_adjustment_is_queued(client, bus):
    result = client.simulate_post(
        f"/products/{PRODUCT}/stock-adjustments", json={"delta": -2, "reason": "broken"}
    )
    assert result.status_code == 202
    assert result.json["product_id"] == str(PRODUCT)
    [envelope] = bus.submitted
    assert (envelope.type, envelope.payload) == (
        "AdjustStock",
        {"product_id": str(PRODUCT), "delta": -2, "reason": "broken"},
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"delta": 0}, "delta"),
        ({}, "delta"),
        ({"delta": 1.5}, "delta"),
        ({"delta": "3"}, "delta"),
        ({"delta": False}, "delta"),
        ({"delta": 2**60}, "delta"),
        ({"delta": 1, "reason": "x" * 201}, "reason"),
        ({"delta": 1, "note": "x"}, "note"),
    ],
)
def test_a_bad_stock_adjustment_gets_422(client, bus, body, field):
    result = client.simulate_post(f"/products/{PRODUCT}/stock-adjustments", json=body)
    assert result.status_code == 422
    assert list(result.json["errors"]) == [field]
    assert bus.submitted == []


@pytest.mark.parametrize("method", ["simulate_patch", "simulate_post"])
def test_every_command_route_checks_the_body_the_same_way(client, bus, method):
    path = f"/products/{PRODUCT}" if method == "simulate_patch" else f"/products/{PRODUCT}/stock-adjustments"
    send = getattr(client, method)
    assert send(path, body="{", headers={"Content-Type": "application/json"}).status_code == 400
    assert send(path, body='{"delta": 1}', headers={"Content-Type": "text/plain"}).status_code == 415
    assert send(path, json={"name": "x" * 70_000, "delta": 1}).status_code == 413
    assert bus.submitted == []


# --- GET /products --------------------------------------------------------


def test_listing_passes_filters_and_defaults():
    views = FakeViews()
    client = make_client(product_views=views)
    result = client.simulate_get(
        "/products", params={"category": "kitchen", "in_stock": "true", "min_price_cents": "100"}
    )
    assert result.status_code == 200
    assert result.json == {"items": [], "next_cursor": None}
    [(where, sort, limit, after)] = views.listed
    assert where == ProductFilter(category="kitchen", in_stock=True, min_price_cents=100)
    assert (sort, limit, after) == ("name", 20, None)


@pytest.mark.parametrize(
    "query, param",
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("sort=$where", "sort"),
        ("sort=sku", "sort"),
        ("min_price_cents=abc", "min_price_cents"),
        ("max_price_cents=1e3", "max_price_cents"),
        ("in_stock=yes", "in_stock"),
        ("category=" + "x" * 65, "category"),
        ("colour=red", "colour"),
        ("limit=5&limit=6", "limit"),
        ("category[$ne]=x", "category[$ne]"),
        ("min_price_cents=500&max_price_cents=100", "min_price_cents"),
        ("cursor=abc", "cursor"),
    ],
)
def test_a_bad_query_parameter_gets_400_naming_it(client, query, param):
    result = client.simulate_get("/products", query_string=query)
    assert result.status_code == 400
    assert result.headers["Content-Type"] == "application/problem+json"
    assert param in result.json["errors"]


def test_cursors_page_on_and_refuse_tampering_or_another_query():
    views = FakeViews(
        [
            {"id": str(i), "name": f"n{i}", "version": 1, "updated_at": "2026-11-26T00:00:00.000Z"}
            for i in range(5)
        ]
    )
    client = make_client(product_views=views)
    first = client.simulate_get("/products", query_string="limit=2&sort=-name").json
    cursor = first["next_cursor"]
    assert cursor
    second = client.simulate_get("/products", query_string=f"limit=2&sort=-name&cursor={cursor}")
    assert second.status_code == 200
    assert views.listed[-1][3] == ["n1", "1"]
    # another limit is fine; another sort or filter is not
    assert (
        client.simulate_get("/products", query_string=f"limit=3&sort=-name&cursor={cursor}").status_code
        == 200
    )
    assert client.simulate_get("/products", query_string=f"limit=2&cursor={cursor}").status_code == 400
    data, signature = cursor.split(".")
    for tampered in (
        data[:-1] + ("A" if data[-1] != "A" else "B") + "." + signature,
        data + "." + signature[::-1],
    ):
        result = client.simulate_get("/products", query_string=f"limit=2&sort=-name&cursor={tampered}")
        assert result.status_code == 400
        assert "cursor" in result.json["errors"]


# --- GET /products/{id}/history -----------------------------------------------


def test_history_lists_events_and_404s_unknown_products():
    events = [{"type": "ProductCreated", "version": 1, "data": {}, "recorded_at": "t", "command_id": "c"}]
    client = make_client(history=FakeHistory({str(PRODUCT): events}))
    assert client.simulate_get(f"/products/{PRODUCT}/history").json == {"items": events}
    assert client.simulate_get(f"/products/{IDS[51]}/history").status_code == 404
    assert client.simulate_get("/products/nope/history").status_code == 404


# --- Idempotency-Key ----------------------------------------------------------


def test_a_key_is_passed_with_a_fingerprint_of_method_path_and_body(client, bus):
    client.simulate_post(
        f"/products/{PRODUCT}/stock-adjustments", json={"delta": 1}, headers={"Idempotency-Key": "k-1"}
    )
    client.simulate_post(
        f"/products/{PRODUCT}/stock-adjustments", json={"delta": 2}, headers={"Idempotency-Key": '"k-1"'}
    )
    first, second = bus.keys
    assert (first.key, second.key) == ("k-1", "k-1")
    assert first.fingerprint != second.fingerprint


@pytest.mark.parametrize("key", ["", "a b", "é", "x" * 256])
def test_a_malformed_key_gets_400(client, bus, key):
    result = client.simulate_post(
        f"/products/{PRODUCT}/stock-adjustments", json={"delta": 1}, headers={"Idempotency-Key": key}
    )
    assert result.status_code == 400
    assert bus.submitted == []


class RaisingBus:
    def __init__(self, exc):
        self.exc = exc

    def submit(self, envelope, response, idempotency=None):
        raise self.exc


def test_a_key_reused_for_another_body_gets_422():
    client = make_client(command_bus=RaisingBus(KeyReused("k")))
    result = client.simulate_post(
        f"/products/{PRODUCT}/stock-adjustments", json={"delta": 1}, headers={"Idempotency-Key": "k"}
    )
    assert result.status_code == 422
    assert "Idempotency-Key" in result.json["errors"]


def test_a_key_still_in_flight_gets_409_with_retry_after():
    client = make_client(command_bus=RaisingBus(KeyInFlight("k")))
    result = client.simulate_post(
        f"/products/{PRODUCT}/stock-adjustments", json={"delta": 1}, headers={"Idempotency-Key": "k"}
    )
    assert result.status_code == 409
    assert result.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    "path",
    [f"/products/{PRODUCT}", f"/products/{PRODUCT}/history", f"/orders/{PRODUCT}", f"/commands/{PRODUCT}"],
)
def test_a_read_route_refuses_a_parameter_it_does_not_take(path):
    # (the item routes take after=, and only that)
    resp = make_client().simulate_get(path, query_string="afer=x")
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json["errors"] == {"afer": ["is not a parameter of this route"]}
