"""The event catalogue (``GET /events/schemas``) and the upcasters behind
it: every schema version of every event type, and JSON Schemas that
describe what is stored."""

import dataclasses

import jsonschema
import pytest

from domain import events
from domain.upcasting import CHANGES, NewerSchema, current_schema, shapes, upcast
from infra import mapper
from infra.settings import Settings
from tests.unit.fakes import make_client
from tests.unit.test_domain import sample
from web.eventschemas import catalogue

OLD_CREATED = {
    "sku": "OLD-1", "name": "Old mug", "price_cents": 900, "currency": "EUR",
    "description": None, "category": None, "stock": 7,
}  # fmt: skip


def schema_of(event_type: str, version: int) -> dict:
    [entry] = [e for e in catalogue()["events"] if e["type"] == event_type]
    [found] = [s["json_schema"] for s in entry["schemas"] if s["schema"] == version]
    return found


def test_an_event_of_schema_1_reads_in_todays_shape_and_stays_stored_as_it_was():
    stored = {"type": "ProductCreated", "version": 1, "data": dict(OLD_CREATED)}  # no schema: version 1
    [recorded] = mapper.decode([stored], recorded_at=None)
    today = events.ProductCreated("OLD-1", "Old mug", 900, "EUR", None, None, initial_stock=7)
    assert recorded.event == today
    assert stored["data"] == OLD_CREATED  # read, not rewritten


def test_new_events_are_written_in_their_current_schema():
    [written] = mapper.encode([events.ProductCreated("S", "n", 1, "EUR", None, None, 2)], after_version=0)
    assert (written["schema"], written["data"]["initial_stock"]) == (2, 2)
    [adjusted] = mapper.encode([events.StockAdjusted(1, None)], after_version=1)
    assert adjusted["schema"] == 1 == current_schema("StockAdjusted")


def test_an_event_from_newer_code_is_refused_not_misread():
    with pytest.raises(NewerSchema):
        upcast("ProductCreated", 3, {"anything": 1})


def test_upcasters_run_in_a_chain(monkeypatch):
    # A second change of ProductCreated, made up for the test: 1 -> 2 -> 3.
    from domain import upcasting

    @dataclasses.dataclass(frozen=True)
    class Shape2:
        initial_stock: int

    third = upcasting.Change("ProductCreated", 2, Shape2, lambda d: {**d, "opening": d["initial_stock"]})
    monkeypatch.setattr(upcasting, "CHANGES", (*upcasting.CHANGES, third))
    monkeypatch.setitem(upcasting._BY_STEP, ("ProductCreated", 2), third)
    assert upcasting.current_schema("ProductCreated") == 3
    assert upcast("ProductCreated", 1, OLD_CREATED)["opening"] == 7
    assert upcast("ProductCreated", 2, {**OLD_CREATED, "initial_stock": 5})["opening"] == 5


def test_the_catalogue_names_every_event_type_and_every_schema_version():
    listed = {e["type"]: e for e in catalogue()["events"]}
    assert set(listed) == set(events.EVENTS)
    for name, entry in listed.items():
        assert entry["current_schema"] == current_schema(name)
        assert [s["schema"] for s in entry["schemas"]] == list(range(1, current_schema(name) + 1))
    assert {c.event_type for c in CHANGES} <= set(listed)


def test_the_json_schemas_describe_what_is_stored():
    old, new = schema_of("ProductCreated", 1), schema_of("ProductCreated", 2)
    jsonschema.Draft202012Validator.check_schema(old)
    jsonschema.validate(OLD_CREATED, old)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(OLD_CREATED, new)  # schema 2 has no stock, and needs initial_stock
    jsonschema.validate(upcast("ProductCreated", 1, OLD_CREATED), new)
    # every type's current shape, from an instance of each
    for event_type in events.EVENTS.values():
        [stored] = mapper.encode([sample(event_type)], after_version=0)
        jsonschema.validate(stored["data"], schema_of(event_type.__name__, stored["schema"]))
    assert set(shapes("ProductCreated")) == {1, 2}


def test_get_events_schemas_needs_a_read_token():
    settings = Settings(mongodb_uri="", mongodb_database="", redis_url="", api_tokens=(("r", "read"),))
    client = make_client(settings=settings)
    assert client.simulate_get("/events/schemas").status_code == 401
    answer = client.simulate_get("/events/schemas", headers={"Authorization": "Bearer r"})
    assert answer.status_code == 200 and answer.json == catalogue()
