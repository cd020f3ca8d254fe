"""Cursors signed with the service's secret but holding what the service
never writes (someone who knows the secret forged them): 400 naming the
``cursor`` parameter, never a 500, and nothing reaches a query."""

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.settings import Settings
from tests.unit.fakes import FakeOrderViews, FakeViews, make_client
from web.cursors import Cursors, InvalidCursor

SECRET = "unit-test-cursor-secret"
CURSORS = Cursors(SECRET.encode())
BY_PRICE = {"sort": "price_cents"}  # what GET /products?sort=price_cents binds a cursor to
CUSTOMER = {"customer_id": "cust-1", "status": None}  # and GET /customers/cust-1/orders


def client(**views):
    own = Settings(mongodb_uri="", mongodb_database="", redis_url="", cursor_secret=SECRET)
    return make_client(settings=replace(own, allow_anonymous=True), **views)


def payload(position, query=BY_PRICE) -> bytes:
    return json.dumps({"q": query, "p": position}).encode()


FORGED = {
    "a position past 2**63": payload([2**63, "id"]),
    "a position below -2**63": payload([-(2**63) - 1, "id"]),
    "a position past 2**53 - 1": payload([2**53, "id"]),
    "hundreds of digits": b'{"q": {"sort": "price_cents"}, "p": [' + b"9" * 600 + b', "id"]}',
    "a lone surrogate as the sort value": payload(["\ud800", "id"]),
    "a lone surrogate as the id": payload([1, "\udfff"]),
    "a list": b'[{"sort": "price_cents"}, [1, "id"]]',
    "a string": b'"price_cents"',
    "a number": b"42",
    "null": b"null",
    "an object without a position": b'{"q": {"sort": "price_cents"}}',
    "an object without a query": b'{"p": [1, "id"]}',
    "not JSON": b"{'q': 1}",
    "not UTF-8": b"\xff\xfe",
}


@pytest.mark.parametrize("data", FORGED.values(), ids=FORGED.keys())
def test_a_forged_product_cursor_gets_400_naming_the_cursor(data):
    views = FakeViews()
    result = client(product_views=views).simulate_get(
        "/products", params={"sort": "price_cents", "cursor": CURSORS.seal(data)}
    )
    assert result.status_code == 400
    assert result.headers["Content-Type"] == "application/problem+json"
    assert list(result.json["errors"]) == ["cursor"]
    assert views.listed == []


@pytest.mark.parametrize("position", [[2**63, "id"], [2**53, "id"], ["\ud800", "id"]])
def test_a_forged_order_cursor_gets_400_naming_the_cursor(position):
    views = FakeOrderViews()
    cursor = CURSORS.seal(payload(position, CUSTOMER))
    result = client(order_views=views).simulate_get("/customers/cust-1/orders", params={"cursor": cursor})
    assert result.status_code == 400
    assert list(result.json["errors"]) == ["cursor"]
    assert views.listed == []


def test_the_largest_positions_the_service_writes_still_page():
    for position in ([2**53 - 1, "id"], [0, "id"], ["Zoë", "id"]):
        assert CURSORS.decode(CURSORS.encode(BY_PRICE, position), BY_PRICE) == position


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.tuples(json_values, json_values).map(lambda qp: payload(qp[1], qp[0])),
        st.tuples(json_values, st.text()).map(lambda pi: payload([pi[0], pi[1]])),
        st.integers(0, 6000).map(lambda n: b'{"q": {"sort": "price_cents"}, "p": [1' + b"0" * n + b', "i"]}'),
        st.integers(0, 3000).map(lambda n: b"[" * n + b"]" * n),
    )
)
def test_any_signed_payload_decodes_to_a_safe_position_or_is_refused(data):
    try:
        value, last_id = CURSORS.decode(CURSORS.seal(data), BY_PRICE)
    except InvalidCursor:
        return
    assert isinstance(last_id, str)
    last_id.encode("utf-8")  # raises for a lone surrogate
    if isinstance(value, str):
        value.encode("utf-8")
    else:
        assert type(value) is int and -(2**53 - 1) <= value <= 2**53 - 1


@settings(max_examples=300, deadline=None)
@given(cursor=st.text())
def test_any_cursor_text_is_refused_or_pages(cursor):
    try:
        CURSORS.decode(cursor, BY_PRICE)
    except InvalidCursor:
        pass
    result = client().simulate_get("/products", params={"sort": "price_cents", "cursor": cursor})
    assert result.status_code in (200, 400)
