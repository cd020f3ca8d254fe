"""Listing products from the real read model: every filter and sort pages
through each matching item exactly once, in order, on an index."""

import itertools
import json
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from falcon import testing

from domain.events import ProductCreated
from domain.projections import product_view
from infra.mongo import PRODUCTS
from tests.integration.plans import assert_served_by_index
from web.app import create_app
from web.bootstrap import build_adapters
from web.cursors import Cursors
from web.views import SORT_FIELDS, ProductFilter, ProductViews

T = datetime(2026, 11, 26, tzinfo=UTC)
NAMES = ["apple", "Banana", "cherry", "apple", "Date", "elder", "Fig", "banana", "grape", "Apple"]


@pytest.fixture
def catalog(db):
    rng = random.Random(7)
    docs = []
    for i in range(40):
        created = ProductCreated(
            sku=f"SKU-{i}",
            name=NAMES[i % len(NAMES)],
            price_cents=rng.choice([100, 250, 250, 999, 1500]),
            currency="EUR",
            description=None,
            category=rng.choice(["kitchen", "garden", None]),
            initial_stock=rng.choice([0, 0, 3, 10]),
        )
        product_id = f"00000000-0000-4000-8000-{i:012d}"
        docs.append({"_id": product_id, "id": product_id, **product_view(None, created, 1, T)})
    db[PRODUCTS].insert_many(docs)
    return docs


def expected(docs, where: ProductFilter, sort: str):
    def keep(d):
        return (
            (where.category is None or d["category"] == where.category)
            and (where.in_stock is None or d["in_stock"] == where.in_stock)
            and (where.min_price_cents is None or d["price_cents"] >= where.min_price_cents)
            and (where.max_price_cents is None or d["price_cents"] <= where.max_price_cents)
        )

    field = SORT_FIELDS[sort.lstrip("-")]
    ordered = sorted(
        (d for d in docs if keep(d)), key=lambda d: (d[field], d["id"]), reverse=sort.startswith("-")
    )
    return [d["id"] for d in ordered]


FILTERS = [
    ProductFilter(),
    ProductFilter(category="kitchen"),
    ProductFilter(in_stock=True),
    ProductFilter(in_stock=False, category="garden"),
    ProductFilter(min_price_cents=250, max_price_cents=999),
    ProductFilter(category="kitchen", in_stock=True, min_price_cents=200),
]


@pytest.mark.parametrize(
    "where, sort", list(itertools.product(FILTERS, ["name", "-name", "price_cents", "-price_cents"]))
)
def test_pages_hold_every_match_once_in_order(db, catalog, where, sort):
    views = ProductViews(db)
    seen, after, pages = [], None, 0
    while True:
        page = views.list(where, sort, limit=7, after=after)
        seen += [item["id"] for item in page.items]
        pages += 1
        if page.last is None:
            break
        after = page.last
        assert pages < 20
    assert seen == expected(catalog, where, sort)


def test_names_sort_without_regard_to_case(db, catalog):
    page = ProductViews(db).list(ProductFilter(), "name", limit=5)
    assert [item["name"].lower() for item in page.items] == ["apple"] * 5


def sort_index_keys(where: ProductFilter, sort: str) -> list[str]:
    equality = [k for k in ("category", "in_stock") if getattr(where, k) is not None]
    return [*equality, SORT_FIELDS[sort.lstrip("-")], "id"]


@pytest.mark.parametrize("where, sort", list(itertools.product(FILTERS, ["name", "-price_cents"])))
def test_every_filter_and_sort_is_served_by_an_index(db, backends, where, sort):
    field = SORT_FIELDS[sort.lstrip("-")]
    direction = -1 if sort.startswith("-") else 1
    assert_served_by_index(
        db[PRODUCTS], where.to_mongo(), [(field, direction), ("id", direction)], sort_index_keys(where, sort),
        real_mongo=backends.mongo_started is None,
    )  # fmt: skip


def test_a_forged_cursor_past_64_bits_gets_400_not_a_500(settings, db, catalog):
    # Given a cursor signed with the service's secret but holding a price no
    # store holds (the secret leaked, or was the old built-in one)
    own = replace(settings, allow_anonymous=True, cursor_secret="integration-cursors")
    client = testing.TestClient(create_app(own, build_adapters(own)))
    forged = json.dumps({"q": {"sort": "price_cents"}, "p": [2**63, "id"]}).encode()
    cursor = Cursors(b"integration-cursors").seal(forged)
    # When it pages the real read model
    answer = client.simulate_get("/products", params={"sort": "price_cents", "cursor": cursor})
    # I expect 400 naming the cursor
    assert answer.status_code == 400
    assert list(answer.json["errors"]) == ["cursor"]
