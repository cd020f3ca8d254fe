import ast
import dataclasses
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain import commands, events
from domain.aggregate import _fields
from domain.errors import InsufficientStock, ProductAlreadyExists, ProductNotFound
from domain.product import Product, decide
from domain.projections import product_view

CREATE = commands.CreateProduct(
    product_id="p1", sku="MUG-1", name="Mug", price_cents=1250, currency="EUR", stock=3
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def test_creating_a_product_records_every_field():
    [created] = decide(Product(), CREATE)
    assert created == events.ProductCreated(
        sku="MUG-1",
        name="Mug",
        price_cents=1250,
        currency="EUR",
        description=None,
        category=None,
        initial_stock=3,
    )


def test_a_product_cannot_be_created_twice():
    state = Product.replay(decide(Product(), CREATE))
    with pytest.raises(ProductAlreadyExists):
        decide(state, CREATE)


def test_stock_cannot_go_below_zero():
    state = Product.replay(decide(Product(), CREATE))
    assert decide(state, commands.AdjustStock(product_id="p1", delta=-3)) == [
        events.StockAdjusted(delta=-3, reason=None)
    ]
    with pytest.raises(InsufficientStock) as refused:
        decide(state, commands.AdjustStock(product_id="p1", delta=-4))
    assert refused.value.code == "insufficient_stock"


def test_adjusting_an_unknown_product_is_refused():
    with pytest.raises(ProductNotFound):
        decide(Product(), commands.AdjustStock(product_id="p1", delta=1))


def test_replay_counts_versions_and_stock():
    state = Product.replay([*decide(Product(), CREATE), events.StockAdjusted(delta=2, reason="count")])
    assert (state.version, state.stock_available, state.sku) == (2, 5, "MUG-1")


def test_commands_and_events_round_trip_through_primitives():
    assert commands.command_from_dict("CreateProduct", CREATE.to_dict()) == CREATE
    [created] = decide(Product(), CREATE)
    assert events.event_from_dict(created.type, created.to_dict()) == created


def test_product_view_follows_events():
    [created] = decide(Product(), CREATE)
    doc = product_view(None, created, 1, T0)
    assert doc["stock_available"] == 3 and doc["stock_reserved"] == 0 and doc["version"] == 1
    doc = product_view(doc, events.StockAdjusted(delta=-1, reason=None), 2, T1)
    assert (doc["stock_available"], doc["version"], doc["created_at"], doc["updated_at"]) == (2, 2, T0, T1)


FORBIDDEN = {
    "pymongo",
    "bson",
    "redis",
    "dramatiq",
    "falcon",
    "marshmallow",
    "gunicorn",
    "requests",
    "infra",
    "web",
    "workers",
}


def test_domain_imports_no_io_library():
    root = Path(__file__).resolve().parents[2] / "domain"
    found = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found += [(path.name, n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert found == []


def created_state():
    return Product.replay(decide(Product(), CREATE))


def test_an_update_records_details_and_price_separately():
    state = created_state()
    produced = decide(
        state, commands.UpdateProduct(product_id="p1", changes={"name": "Big mug", "price_cents": 990})
    )
    assert produced == [
        events.ProductDetailsChanged(name="Big mug", description=None, category=None),
        events.ProductPriceChanged(price_cents=990, previous_price_cents=1250),
    ]
    after = state.apply(produced[0]).apply(produced[1])
    assert (after.name, after.price_cents, after.version) == ("Big mug", 990, 3)


def test_an_update_can_clear_a_detail():
    state = Product.replay([events.ProductCreated("S", "Mug", 5, "EUR", "a description", "kitchen", 0)])
    [changed] = decide(state, commands.UpdateProduct(product_id="p1", changes={"category": None}))
    assert changed == events.ProductDetailsChanged(name="Mug", description="a description", category=None)


def test_an_update_that_changes_nothing_records_nothing():
    state = created_state()
    assert (
        decide(state, commands.UpdateProduct(product_id="p1", changes={"name": "Mug", "price_cents": 1250}))
        == []
    )


def test_an_update_of_an_unknown_product_is_refused():
    with pytest.raises(ProductNotFound):
        decide(Product(), commands.UpdateProduct(product_id="p1", changes={"name": "x"}))


def test_an_update_must_change_known_fields():
    with pytest.raises(ValueError):
        commands.UpdateProduct(product_id="p1", changes={})
    with pytest.raises(ValueError):
        commands.UpdateProduct(product_id="p1", changes={"sku": "x"})


def test_the_view_follows_details_and_price_and_keeps_index_fields():
    [created] = decide(Product(), CREATE)
    doc = product_view(None, created, 1, T0)
    assert (doc["in_stock"], doc["name_key"]) == (True, "mug")
    doc = product_view(
        doc, events.ProductDetailsChanged(name="Zebra Mug", description="d", category="c"), 2, T1
    )
    doc = product_view(doc, events.ProductPriceChanged(price_cents=5, previous_price_cents=1250), 3, T1)
    doc = product_view(doc, events.StockAdjusted(delta=-3, reason=None), 4, T1)
    assert (doc["name"], doc["name_key"], doc["description"], doc["category"]) == (
        "Zebra Mug",
        "zebra mug",
        "d",
        "c",
    )
    assert (doc["price_cents"], doc["stock_available"], doc["in_stock"], doc["version"]) == (5, 0, False, 4)


def test_stock_cannot_pass_the_json_safe_limit():
    from domain.errors import StockLimitExceeded
    from domain.product import MAX_STOCK

    state = created_state()
    decide(state, commands.AdjustStock(product_id="p1", delta=MAX_STOCK - 3))
    with pytest.raises(StockLimitExceeded):
        decide(state, commands.AdjustStock(product_id="p1", delta=MAX_STOCK - 2))
    assert decide(Product(), replace(CREATE, stock=MAX_STOCK))[0].initial_stock == MAX_STOCK
    with pytest.raises(StockLimitExceeded):
        decide(Product(), replace(CREATE, stock=MAX_STOCK + 1))


def test_no_order_of_products_at_the_highest_price_totals_past_the_limit():
    from domain.limits import MAX_INT, MAX_LINES, MAX_PRICE_CENTS, MAX_QUANTITY

    units = MAX_LINES * MAX_QUANTITY
    assert units * MAX_PRICE_CENTS <= MAX_INT < units * (MAX_PRICE_CENTS + 1)


def test_a_price_cannot_pass_the_highest_price():
    from domain.errors import DomainError
    from domain.limits import MAX_PRICE_CENTS

    at_most = replace(CREATE, price_cents=MAX_PRICE_CENTS)
    assert decide(Product(), at_most)[0].price_cents == MAX_PRICE_CENTS
    with pytest.raises(DomainError) as refused:
        decide(Product(), replace(CREATE, price_cents=MAX_PRICE_CENTS + 1))
    assert refused.value.code == "price_limit"
    state = created_state()
    raise_to = commands.UpdateProduct(product_id="p1", changes={"price_cents": MAX_PRICE_CENTS})
    assert decide(state, raise_to) == [events.ProductPriceChanged(MAX_PRICE_CENTS, 1250)]
    with pytest.raises(DomainError) as refused:
        decide(state, commands.UpdateProduct(product_id="p1", changes={"price_cents": MAX_PRICE_CENTS + 1}))
    assert refused.value.code == "price_limit"


def sample(message_type: type) -> object:
    """An instance of ``message_type`` with every field set, lists of dicts of lists in its lists."""

    def value(annotation) -> object:
        named = str(annotation)
        if "list" in named:
            return [{"product_id": "p", "quantity": 2, "tags": ["a"]}]
        if named.startswith("dict"):
            return {"name": "n", "description": "d"}
        return 7 if named.startswith("int") or "int" == named else "s"

    return message_type(**{field.name: value(field.type) for field in dataclasses.fields(message_type)})


@pytest.mark.parametrize("message_type", [*commands.COMMANDS.values(), *events.EVENTS.values()])
def test_to_dict_is_dataclasses_asdict_without_sharing_a_container(message_type):
    message = sample(message_type)
    as_dict = message.to_dict()
    assert as_dict == dataclasses.asdict(message)
    for name, value in as_dict.items():
        if isinstance(value, list):
            value[0]["quantity"] = -1
            value.append({})
            assert getattr(message, name)[0]["quantity"] == 2 and len(getattr(message, name)) == 1
        if isinstance(value, dict):
            value["name"] = "changed"
            assert getattr(message, name)["name"] == "n"


@pytest.mark.parametrize(
    "history",
    [
        [
            events.ProductCreated("S", "Mug", 100, "EUR", "d", "c", 9),
            events.StockReserved("o1", 2, 100, "S", "Mug"),
        ],
        [events.ProductCreated("S", "Mug", 100, "EUR", None, None, 0)],
        [],
    ],
)
def test_a_product_comes_back_from_its_snapshot_as_it_was(history):
    state = Product.replay(history)
    kept = state.to_snapshot()
    assert Product.from_snapshot(kept) == state
    # a snapshot is primitives only: what any store keeps as it is
    assert kept == json.loads(json.dumps(kept))
    # and folding on from it folds as from the start
    more = [events.StockAdjusted(delta=1, reason=None)] if state.exists else []
    assert Product.replay(more, Product.from_snapshot(kept)) == Product.replay([*history, *more])


def test_an_order_comes_back_from_its_snapshot_as_it_was():
    from domain.order import Order

    placed = events.OrderPlaced(
        "cust", "EUR", [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": 1}]
    )
    state = Order.replay([placed, events.OrderLineReserved("p1", "S", "Mug", 500)])
    kept = state.to_snapshot()
    assert Order.from_snapshot(kept) == state and kept == json.loads(json.dumps(kept))


def test_a_snapshot_schema_changes_with_the_fields_and_the_revision():
    from domain.order import Order

    assert Product.snapshot_schema() != Order.snapshot_schema()
    assert Product.snapshot_schema() == Product.snapshot_schema()

    @dataclasses.dataclass(frozen=True)
    class Wider(Product):
        loyalty: int = 0

    @dataclasses.dataclass(frozen=True)
    class Refolded(Product):
        SNAPSHOT_REVISION = 2

    assert Wider.snapshot_schema().split("/")[2] != Product.snapshot_schema().split("/")[2]

    # a field of a dataclass inside (an order's Line) counts too
    @dataclasses.dataclass(frozen=True)
    class Part:
        quantity: int

    @dataclasses.dataclass(frozen=True)
    class WiderPart:
        quantity: int
        note: str

    @dataclasses.dataclass(frozen=True)
    class Whole(Product):
        parts: tuple[Part, ...] = ()

    @dataclasses.dataclass(frozen=True)
    class WholeOfWider(Product):
        parts: tuple[WiderPart, ...] = ()

    assert "(quantity:" in _fields(Whole) and "note:" in _fields(WholeOfWider)
    assert Refolded.snapshot_schema().split("/")[1:] != Product.snapshot_schema().split("/")[1:]
