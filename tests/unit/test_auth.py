"""Who may call what: every route × no token / unknown / read / write /
admin, with and without ALLOW_ANONYMOUS; and inputs that try to smuggle
MongoDB operators."""

import json

import pytest

from infra.settings import ConfigurationError, Settings
from tests.unit.fakes import IDS, FakeCommandBus, make_client

TOKENS = (("r-token", "read"), ("w-token", "write"), ("a-token", "admin"))
P, ORDER = IDS[80], IDS[81]
ORDER_BODY = {"customer_id": "c", "currency": "EUR", "lines": [{"product_id": str(P), "quantity": 1}]}
PRODUCT_BODY = {"sku": "S", "name": "n", "price_cents": 1, "currency": "EUR"}

ROUTES = [
    ("GET", "/products", None, "read"),
    ("POST", "/products", PRODUCT_BODY, "write"),
    ("GET", f"/products/{P}", None, "read"),
    ("PATCH", f"/products/{P}", {"name": "x"}, "write"),
    ("POST", f"/products/{P}/stock-adjustments", {"delta": 1}, "write"),
    ("GET", f"/products/{P}/history", None, "admin"),
    ("POST", "/orders", ORDER_BODY, "write"),
    ("GET", f"/orders/{ORDER}", None, "read"),
    ("POST", f"/orders/{ORDER}/cancel", None, "write"),
    ("POST", f"/orders/{ORDER}/ship", None, "write"),
    ("GET", f"/orders/{ORDER}/history", None, "admin"),
    ("GET", "/customers/c/orders", None, "read"),
    ("GET", f"/commands/{IDS[82]}", None, "read"),
    ("GET", "/events/schemas", None, "read"),
    ("GET", "/ops/data", None, "admin"),
    ("GET", "/dead-letters", None, "admin"),
    ("POST", "/dead-letters/project_stream:s:1/retry", None, "admin"),
]
CALLERS = {None: None, "unknown": None, "r-token": "read", "w-token": "write", "a-token": "admin"}
RANK = {"read": 0, "write": 1, "admin": 2}


def client(allow_anonymous, tokens=TOKENS):
    settings = Settings(
        mongodb_uri="", mongodb_database="", redis_url="", api_tokens=tokens, allow_anonymous=allow_anonymous
    )
    return make_client(settings=settings, command_bus=FakeCommandBus())


#: (tokens configured, ALLOW_ANONYMOUS): anonymous access only where no token exists
CONFIGS = [(TOKENS, False), (TOKENS, True), ((), True)]


@pytest.mark.parametrize(
    "tokens, allow_anonymous", CONFIGS, ids=["tokens", "tokens+anonymous", "anonymous-only"]
)
@pytest.mark.parametrize("method, path, body, needed", ROUTES)
@pytest.mark.parametrize("token", list(CALLERS))
def test_the_auth_matrix(tokens, allow_anonymous, method, path, body, needed, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    result = client(allow_anonymous, tokens).simulate_request(method, path, json=body, headers=headers)
    held = CALLERS[token] if tokens else None
    if token is None and allow_anonymous and not tokens:
        held = "admin"
    if held is None:
        assert result.status_code == 401
        assert result.headers["WWW-Authenticate"].startswith("Bearer")
        assert result.headers["Content-Type"] == "application/problem+json"
    elif RANK[held] < RANK[needed]:
        assert result.status_code == 403
        assert result.headers["Content-Type"] == "application/problem+json"
    else:
        assert result.status_code not in (401, 403), result.text


def test_other_schemes_and_empty_tokens_are_unknown():
    for header in ("Basic r-token", "Bearer", "Bearer ", "r-token", "Bearer r-token2"):
        assert client(False).simulate_get("/products", headers={"Authorization": header}).status_code == 401


def test_idempotency_keys_belong_to_their_token():
    bus = FakeCommandBus()
    settings = Settings(mongodb_uri="", mongodb_database="", redis_url="", api_tokens=TOKENS)
    c = make_client(settings=settings, command_bus=bus)
    for token in ("w-token", "a-token"):
        c.simulate_post(
            f"/products/{P}/stock-adjustments",
            json={"delta": 1},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "same"},
        )
    first, second = bus.keys
    assert first.key == second.key and first.scope != second.scope
    assert "w-token" not in first.scope and "a-token" not in second.scope


def test_api_tokens_are_parsed_and_checked():
    settings = Settings.from_env(
        {"MONGODB_URI": "mongodb://h/db", "REDIS_URL": "redis://h", "API_TOKENS": "t1:read t2:read,admin"}
    )
    assert dict(settings.api_tokens) == {"t1": "read", "t2": "admin"}
    for bad in ("t1", "t1:root", ":read", "t1:"):
        with pytest.raises(ConfigurationError) as refused:
            Settings.from_env({"MONGODB_URI": "mongodb://h/db", "REDIS_URL": "redis://h", "API_TOKENS": bad})
        assert bad.split(":")[0] not in str(refused.value) or bad.startswith(":")


def test_cursor_secret_has_no_built_in_value():
    env = {"MONGODB_URI": "mongodb://h/db", "REDIS_URL": "redis://h"}
    assert Settings.from_env(env).cursor_secret is None
    assert Settings.from_env({**env, "CURSOR_SECRET": "s3cret"}).cursor_secret == "s3cret"


def test_web_refuses_to_start_without_a_cursor_secret():
    from web.wsgi import web_settings

    env = {"MONGODB_URI": "mongodb://h/db", "REDIS_URL": "redis://h", "ALLOW_ANONYMOUS": "1"}
    with pytest.raises(ConfigurationError, match="CURSOR_SECRET"):
        web_settings(env)
    assert web_settings({**env, "CURSOR_SECRET": "s3cret"}).cursor_secret == "s3cret"


# --- inputs that must never reach MongoDB as operators -------------------------------

INJECTIONS_QUERY = [
    "category[$ne]=x",
    "category.$ne=x",
    "$where=1",
    "sort=$where",
    "in_stock[$exists]=true",
    "min_price_cents[$gt]=0",
    "cursor[$gt]=",
    "after[$ne]=x",
]
INJECTIONS_BODY = [
    {"sku": "S", "name": {"$gt": ""}, "price_cents": 1, "currency": "EUR"},
    {"sku": {"$ne": None}, "name": "n", "price_cents": 1, "currency": "EUR"},
    {"sku": "S", "name": "n", "price_cents": {"$gt": 0}, "currency": "EUR"},
    {"sku": "S", "name": "n", "price_cents": 1, "currency": "EUR", "$where": "1"},
    {"sku": "S", "name": "n", "price_cents": 1, "currency": "EUR", "description.$x": "y"},
    {"sku": "S", "name": "n", "price_cents": 1, "currency": ["EUR"]},
]


class Refusing:
    """A read model that fails the test if a query reaches it."""

    def get(self, *args):
        raise AssertionError("a refused request reached the read model")

    list = for_customer = get


@pytest.mark.parametrize("query", INJECTIONS_QUERY)
def test_operator_shaped_query_parameters_are_refused(query):
    c = make_client(product_views=Refusing(), order_views=Refusing())
    assert c.simulate_get("/products", query_string=query).status_code == 400
    assert c.simulate_get("/customers/c/orders", query_string=query).status_code == 400


@pytest.mark.parametrize("body", INJECTIONS_BODY)
def test_operator_shaped_bodies_are_refused(body):
    bus = FakeCommandBus()
    c = make_client(command_bus=bus)
    result = c.simulate_post("/products", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert result.status_code == 422
    assert bus.submitted == []


@pytest.mark.parametrize("customer", ["$where", "a.b$", '{"$ne":1}', "x" * 65])
def test_operator_shaped_route_ids_are_refused(customer):
    c = make_client(order_views=Refusing())
    assert c.simulate_get(f"/customers/{customer}/orders").status_code == 404


def test_settings_never_show_tokens():
    settings = Settings(
        mongodb_uri="m", mongodb_database="d", redis_url="r", api_tokens=(("s3cret", "admin"),)
    )
    assert "s3cret" not in repr(settings)
