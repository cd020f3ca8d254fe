"""The operations page and what it reads: /ops (static, no token), its
assets, /ops/data shaped from the readings /metrics renders too, and the
dead-letter routes, over fakes."""

import re
from datetime import UTC, datetime

from jsonschema import Draft202012Validator

from infra.settings import Settings
from tests.unit.fakes import FakeDesk, FakeReadings, FakeRebuildPointers, make_client
from web import ops
from web.contract import document
from web.readings import LagReading, QueueReading, RedisReading

ADMIN = {"Authorization": "Bearer a-token"}
TOKENS = (("a-token", "admin"), ("r-token", "read"))
NOW = 1_800_000_000.0
LETTER = {
    "_id": "project_stream:5b0c5c8e-2f1a-4a8e-9d3c-7e41f0a6b2d9:3",
    "handler": "project_stream",
    "stream_type": "product",
    "stream_id": "5b0c5c8e-2f1a-4a8e-9d3c-7e41f0a6b2d9",
    "version": 3,
    "error": "KeyError: 'price_cents'",
    "recorded_at": datetime(2026, 11, 26, 5, 41, tzinfo=UTC),
    "attempts": 2,
}
READING = RedisReading(
    queues={"commands": QueueReading(4, 1, 2, 0.75), "projections": QueueReading(0, 0, 0, 0.0)},
    outcomes={("PlaceOrder", "rejected"): 3, ("CreateProduct", "succeeded"): 120},
    latency={},
    lag={"products": LagReading(2, 0.5), "orders": LagReading(0, 0.0)},
    lag_measured_age_s=6.0,
)


def client(**fakes):
    settings = Settings(mongodb_uri="", mongodb_database="", redis_url="", api_tokens=TOKENS)
    return make_client(settings=settings, **fakes)


def matches_the_contract(schema: str, body) -> None:
    doc = document()
    Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    ).validate(body)


def test_the_page_needs_no_token_and_loads_only_what_is_served():
    c = client()
    page = c.simulate_get("/ops")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    # no inline script may run, and the token goes nowhere but here
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text
    assets = re.findall(r'(?:href|src)="(/ops/static/[^"]+)"', page.text)
    assert len(assets) == 4
    for asset in assets:
        answer = c.simulate_get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["Content-Type"].split(";")[0] in ("text/javascript", "text/css"), asset
        assert "max-age" in answer.headers["Cache-Control"]
    assert c.simulate_get("/ops/static/VERSION").status_code == 404
    assert c.simulate_get("/ops/static/../ops.py").status_code == 404


def test_the_data_and_the_retry_need_an_admin_token():
    c = client(dead_letters=FakeDesk([LETTER]))
    for method, path in (
        ("GET", "/ops/data"),
        ("GET", "/dead-letters"),
        ("POST", f"/dead-letters/{LETTER['_id']}/retry"),
    ):
        assert c.simulate_request(method, path).status_code == 401
        answer = c.simulate_request(method, path, headers={"Authorization": "Bearer r-token"})
        assert answer.status_code == 403
        assert answer.headers["Content-Type"] == "application/problem+json"


def test_ops_data_is_what_metrics_reads_as_json():
    # Given readings, a dead letter and a rebuild under way
    pointers = {
        "products": {
            "_id": "products", "active": "products", "building": "products__new",
            "lease_until_ms": int(NOW * 1000) + 20_000,
        }
    }  # fmt: skip
    fakes = {
        "readings": FakeReadings(READING, dead_letters=1),
        "dead_letters": FakeDesk([LETTER]),
        "rebuilds": FakeRebuildPointers(pointers),
    }
    # When the page asks
    body = client(**fakes).simulate_get("/ops/data", headers=ADMIN).json
    # I expect each panel's data, as the contract describes it
    matches_the_contract("OpsData", body)
    assert body["sources"] == {"redis": True, "mongodb": True}
    assert body["queues"][0] == {
        "queue": "commands",
        "depth": 4,
        "oldest_age_s": 0.75,
        "retries": 2,
        "dead": 1,
    }
    assert body["outcomes"] == [
        {"type": "CreateProduct", "outcome": "succeeded", "count": 120},
        {"type": "PlaceOrder", "outcome": "rejected", "count": 3},
    ]
    assert body["lag"][0] == {"read_model": "products", "versions": 2, "seconds": 0.5}
    assert body["lag_measured_age_s"] == 6.0
    assert body["dead_letters"]["count"] == 1
    assert body["dead_letters"]["letters"][0]["id"] == LETTER["_id"]
    assert body["dead_letters"]["letters"][0]["recorded_at"].startswith("2026-11-26T05:41:00")
    # and the same readings in the Prometheus text
    metrics = client(**fakes).simulate_get("/metrics").text
    assert 'shop_queue_depth{queue="commands"} 4.0' in metrics
    assert 'shop_commands_completed_total{outcome="rejected",type="PlaceOrder"} 3.0' in metrics
    assert "shop_dead_letters 1.0" in metrics


def test_a_source_that_does_not_answer_leaves_its_panels_null():
    for down, empty in (
        ("redis", ("queues", "outcomes", "lag", "lag_measured_age_s")),
        ("mongodb", ("dead_letters", "rebuilds")),
    ):
        body = client(readings=FakeReadings(down=(down,))).simulate_get("/ops/data", headers=ADMIN).json
        matches_the_contract("OpsData", body)
        assert body["sources"][down] is False
        assert all(body[part] is None for part in empty), down
        assert all(body[part] is not None for part in ("queues", "dead_letters") if part not in empty)


def test_each_read_model_has_a_rebuild_state():
    now_ms = int(NOW * 1000)
    pointers = {
        "products": {"active": "products__a", "building": "products__b", "lease_until_ms": now_ms + 5_000},
        "orders": {"active": "orders", "building": "orders__c", "lease_until_ms": now_ms - 1},
    }
    assert ops.rebuilds(pointers, now_ms) == [
        {"read_model": "products", "state": "building", "active": "products__a", "building": "products__b",
         "lease_left_s": 5.0},
        {"read_model": "orders", "state": "lapsed", "active": "orders", "building": "orders__c",
         "lease_left_s": 0.0},
    ]  # fmt: skip
    assert [r["state"] for r in ops.rebuilds({}, now_ms)] == ["idle", "idle"]
    idle = {"state": "idle", "active": "products", "building": None, "lease_left_s": None}
    assert ops.rebuilds({}, now_ms)[0] == {"read_model": "products", **idle}


def test_a_retry_is_queued_for_a_worker_and_an_unknown_letter_is_a_problem():
    desk = FakeDesk([LETTER])
    c = client(dead_letters=desk)
    # When the page asks for a retry of a letter
    answer = c.simulate_post(f"/dead-letters/{LETTER['_id']}/retry", headers=ADMIN)
    # I expect it queued, not applied here
    assert answer.status_code == 202
    matches_the_contract("RetryQueued", answer.json)
    assert desk.queued == [LETTER["_id"]]
    for unknown in ("project_stream:nope:1", "bad id with spaces", "$where"):
        refused = c.simulate_post(f"/dead-letters/{unknown}/retry", headers=ADMIN)
        assert refused.status_code == 404
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert "dead letter" in refused.json["detail"]
    assert desk.queued == [LETTER["_id"]]


def test_the_dead_letters_are_listed_oldest_first_and_bounded():
    letters = [
        {
            **LETTER,
            "_id": f"project_stream:s{i}:1",
            "recorded_at": datetime(2026, 1, 1, 0, i % 60, tzinfo=UTC),
        }
        for i in range(150)
    ]
    body = (
        client(dead_letters=FakeDesk(letters), readings=FakeReadings(dead_letters=150))
        .simulate_get("/dead-letters", headers=ADMIN)
        .json
    )
    matches_the_contract("DeadLetters", body)
    assert body["count"] == 150
    assert len(body["letters"]) == 100
    assert body["letters"][0]["recorded_at"] <= body["letters"][-1]["recorded_at"]
    assert "message" not in body["letters"][0] and "traceback" not in body["letters"][0]


def test_a_query_parameter_the_admin_routes_do_not_take_is_refused_and_no_retry_is_queued():
    desk = FakeDesk([LETTER])
    c = client(dead_letters=desk, readings=FakeReadings(READING), rebuilds=FakeRebuildPointers())
    for method, path in (
        ("GET", "/ops/data"),
        ("GET", "/dead-letters"),
        ("POST", f"/dead-letters/{LETTER['_id']}/retry"),
    ):
        refused = c.simulate_request(method, path, headers=ADMIN, query_string="dry_run=true")
        assert refused.status_code == 400, (path, refused.text)
        assert refused.json["errors"] == {"dry_run": ["is not a parameter of this route"]}
    assert desk.queued == []
    assert c.simulate_post(f"/dead-letters/{LETTER['_id']}/retry", headers=ADMIN).status_code == 202
