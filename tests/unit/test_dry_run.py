"""``?dry_run=true`` over fakes: what a command would do, decided with the
worker's code, answered 200, with nothing queued or claimed; and the store
adapter's loads (snapshot, SKU claims) over the handler's fakes."""

from __future__ import annotations

import pytest

from domain.commands import CreateProduct, UpdateProduct
from infra.commandbus import QueueFull
from infra.messages import CommandEnvelope
from infra.settings import Settings
from tests.unit.fakes import (
    IDS,
    VALID,
    FakeCommandBus,
    FakeDecisions,
    FakeEventLog,
    FakeSender,
    FakeSkuRegistry,
    FakeSnapshotStore,
    FakeStatusBook,
    make_client,
)
from web.dryrun import StoreDecisions
from workers.handler import CommandHandler

P = str(IDS[90])


@pytest.fixture
def worker():
    """A handler on in-memory streams and SKU claims, and the product P it created."""
    store, skus, statuses = FakeEventLog(), FakeSkuRegistry(), FakeStatusBook()
    handler = CommandHandler(store, skus, FakeSender(statuses), statuses)
    created = CreateProduct(product_id=P, **VALID, stock=3)
    handler.handle(CommandEnvelope.wrap(created, command_id="c-create"))
    return handler, store, skus


def client_on(store, bus=None, **settings):
    decisions = FakeDecisions(store.streams)
    return make_client(command_bus=bus or FakeCommandBus(), decisions=decisions, **settings), decisions


def test_a_dry_run_answers_the_events_the_worker_then_commits(worker):
    # Given a product at version 1
    handler, store, _ = worker
    bus = FakeCommandBus()
    client, _ = client_on(store, bus)
    body = {"price_cents": 990, "description": None, "category": "kitchen"}
    # When its update is dry-run
    result = client.simulate_patch(f"/products/{P}", json=body, params={"dry_run": "true"})
    # I expect 200 with the events at the versions they would take, and nothing queued
    assert result.status_code == 200, result.text
    assert result.json["dry_run"] is True and result.json["outcome"] == "committed"
    assert (result.json["command"], result.json["stream_type"], result.json["stream_id"]) == (
        "UpdateProduct", "product", P,
    )  # fmt: skip
    assert [(e["type"], e["version"]) for e in result.json["events"]] == [
        ("ProductDetailsChanged", 2), ("ProductPriceChanged", 3),
    ]  # fmt: skip
    assert result.json["version"] == 3 and result.json["error"] is None
    assert bus.submitted == [] and "Location" not in result.headers
    # and the worker, given the same command, commits exactly those
    update = UpdateProduct(product_id=P, changes=body)
    outcome = handler.handle(CommandEnvelope.wrap(update, command_id="c-up"))
    committed = [{k: e[k] for k in ("type", "version", "schema", "data")} for e in outcome.commit.events]
    assert committed == result.json["events"] and outcome.version == result.json["version"]


def test_a_refusal_is_answered_200_with_its_code(worker):
    _, store, _ = worker
    client, _ = client_on(store)
    result = client.simulate_post(f"/products/{P}/stock-adjustments?dry_run=true", json={"delta": -4})
    assert result.status_code == 200
    assert result.json["outcome"] == "rejected" and result.json["events"] == []
    assert result.json["error"] == {"code": "insufficient_stock", "detail": "3 available, cannot take 4"}
    unknown = client.simulate_post(f"/orders/{IDS[91]}/ship?dry_run=true")
    assert unknown.json["error"]["code"] == "order_not_found"


def test_an_id_of_another_kind_of_stream_is_not_found(worker):
    _, store, _ = worker
    client, _ = client_on(store)
    result = client.simulate_post(f"/orders/{P}/cancel?dry_run=true")
    assert result.json["outcome"] == "rejected" and result.json["error"]["code"] == "order_not_found"


def test_a_change_to_nothing_is_unchanged_at_the_current_version(worker):
    _, store, _ = worker
    client, _ = client_on(store)
    result = client.simulate_patch(f"/products/{P}?dry_run=true", json={"name": VALID["name"]})
    assert (result.json["outcome"], result.json["version"], result.json["events"]) == ("unchanged", 1, [])


def test_a_create_says_which_id_it_used():
    client, decisions = client_on(FakeEventLog())
    result = client.simulate_post("/products?dry_run=true", json=VALID)
    assert result.status_code == 200
    assert result.json["stream_id"] == decisions.previewed[0].product_id
    assert [(e["type"], e["version"]) for e in result.json["events"]] == [("ProductCreated", 1)]
    placed = client.simulate_post(
        "/orders?dry_run=true",
        json={"customer_id": "c", "currency": "EUR", "lines": [{"product_id": P, "quantity": 1}]},
    )
    assert placed.json["events"][0]["type"] == "OrderPlaced" and placed.json["stream_type"] == "order"


def test_a_dry_run_claims_no_key_and_ignores_a_full_queue():
    class Full(FakeCommandBus):
        def submit(self, envelope, response, idempotency=None):
            raise QueueFull("9999 waiting")

    client, _ = client_on(FakeEventLog(), Full())
    headers = {"Idempotency-Key": "k-1"}
    for _ in range(2):
        result = client.simulate_post("/products?dry_run=true", json=VALID, headers=headers)
        assert result.status_code == 200 and "Idempotent-Replayed" not in result.headers
    # a malformed key is refused as on the real route
    bad = client.simulate_post("/products?dry_run=true", json=VALID, headers={"Idempotency-Key": ""})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json["errors"]


@pytest.mark.parametrize("value", ["yes", "1", "True", ""])
def test_dry_run_is_true_or_false(value):
    client, decisions = client_on(FakeEventLog())
    result = client.simulate_post("/products", json=VALID, params={"dry_run": value})
    assert result.status_code == 400 and result.headers["Content-Type"] == "application/problem+json"
    assert result.json["errors"] == {"dry_run": ["must be true or false"]}
    assert decisions.previewed == []


def test_dry_run_false_or_twice():
    bus = FakeCommandBus()
    client, _ = client_on(FakeEventLog(), bus)
    assert client.simulate_post("/products?dry_run=false", json=VALID).status_code == 202
    assert len(bus.submitted) == 1
    twice = client.simulate_post("/products?dry_run=true&dry_run=true", json=VALID)
    assert twice.status_code == 400 and "dry_run" in twice.json["errors"]


def test_an_invalid_body_is_refused_as_on_the_real_route():
    client, decisions = client_on(FakeEventLog())
    result = client.simulate_post("/products?dry_run=true", json={**VALID, "price_cents": -1})
    assert result.status_code == 422 and "price_cents" in result.json["errors"]
    assert decisions.previewed == []


def test_a_dry_run_needs_the_command_s_scope():
    tokens = (("r-token", "read"), ("w-token", "write"))
    settings = Settings(mongodb_uri="", mongodb_database="", redis_url="", api_tokens=tokens)
    client, _ = client_on(FakeEventLog(), settings=settings)
    for token, status in (("r-token", 403), ("w-token", 200)):
        headers = {"Authorization": f"Bearer {token}"}
        result = client.simulate_post("/products?dry_run=true", json=VALID, headers=headers)
        assert result.status_code == status
    assert client.simulate_post("/products?dry_run=true", json=VALID).status_code == 401


# --- the store adapter, over the handler's fakes ---------------------------------


def test_the_adapter_starts_from_the_snapshot_and_reads_only_what_follows():
    # Given a stream whose worker keeps a snapshot every 2 events
    store, statuses = FakeEventLog(), FakeStatusBook()
    snapshots, skus = FakeSnapshotStore(), FakeSkuRegistry()
    handler = CommandHandler(
        store, skus, FakeSender(statuses), statuses, snapshots=snapshots, snapshot_every={"product": 2}
    )
    handler.handle(CommandEnvelope.wrap(CreateProduct(product_id=P, **VALID), command_id="c-0"))
    for n in range(1, 4):
        update = UpdateProduct(product_id=P, changes={"price_cents": n})
        handler.handle(CommandEnvelope.wrap(update, command_id=f"c-{n}"))
    kept = snapshots.kept[P]["version"]
    assert kept >= 2
    # When a command is previewed
    store.loads.clear()
    rename = UpdateProduct(product_id=P, changes={"name": "Cup"})
    proposal = StoreDecisions(store, snapshots, skus).preview(rename)
    # I expect one load, from the snapshot's commit on, and the stream's next version
    assert store.loads == [(P, kept - 1)]
    assert proposal.after_version == 4 and [e.type for e in proposal.events] == ["ProductDetailsChanged"]
    # and, the snapshot's commit gone (a restored store), a load from the start
    snapshots.kept[P]["command_id"] = "elsewhere"
    store.loads.clear()
    assert StoreDecisions(store, snapshots, skus).preview(rename).after_version == 4
    assert store.loads[-1] == (P, 0)
    assert snapshots.kept[P]["command_id"] == "elsewhere"  # read only: not deleted


def test_the_adapter_refuses_a_sku_another_product_holds_without_claiming(worker):
    from domain.errors import DuplicateSku

    _, store, skus = worker
    decisions = StoreDecisions(store, FakeSnapshotStore(), skus)
    held = dict(skus.claims)
    with pytest.raises(DuplicateSku, match="belongs to product"):
        decisions.preview(CreateProduct(product_id=str(IDS[92]), **VALID))
    assert skus.claims == held
    other = CreateProduct(product_id=str(IDS[92]), **{**VALID, "sku": "OTHER-1"})
    assert [e.type for e in decisions.preview(other).events] == ["ProductCreated"]
    assert skus.claims == held


@pytest.mark.parametrize("query", ["DRY_RUN=true", "dryrun=true", "dry-run=true", "dry_run[]=true", "foo=1"])
def test_a_parameter_a_command_route_does_not_take_is_refused_and_nothing_is_queued(query):
    # A mistyped dry_run is not taken for absent: the command would run
    bus = FakeCommandBus()
    client, decisions = client_on(FakeEventLog(), bus)
    name = query.split("=")[0]
    for method, path, body in (
        ("POST", "/products", VALID),
        ("PATCH", f"/products/{P}", {"name": "Cup"}),
        ("POST", f"/products/{P}/stock-adjustments", {"delta": 1}),
        ("POST", f"/orders/{P}/cancel", None),
        ("POST", f"/orders/{P}/ship", None),
    ):
        result = client.simulate_request(method, path, json=body, query_string=f"dry_run=true&{query}")
        assert result.status_code == 400, (path, result.text)
        assert result.headers["Content-Type"] == "application/problem+json"
        assert result.json["errors"] == {name: ["is not a parameter of this route"]}
        alone = client.simulate_request(method, path, json=body, query_string=query)
        assert alone.status_code == 400
    assert bus.submitted == [] and decisions.previewed == []


def test_a_repeated_dry_run_is_refused_as_every_repeated_parameter_is():
    client, _ = client_on(FakeEventLog())
    twice = client.simulate_post("/products?dry_run=true&dry_run=true", json=VALID)
    assert twice.json["errors"] == {"dry_run": ["must be given once"]}
