"""The HTTP surface through ``falcon.testing`` with fakes: no services."""

import io
import json

import pytest

from domain.limits import MAX_PRICE_CENTS
from infra.statuses import record
from tests.unit.fakes import IDS, VALID, FakeStatuses, FakeViews, make_client
from web.inputs import MAX_BODY_BYTES
from web.views import product_json


def test_create_product_is_queued_and_accepted(client, bus):
    result = client.simulate_post("/products", json={**VALID, "category": "kitchen"})
    assert result.status_code == 202
    assert result.json == {"command_id": str(IDS[1]), "status": "accepted", "product_id": str(IDS[0])}
    assert result.headers["Location"] == f"/commands/{IDS[1]}"
    [envelope] = bus.submitted
    assert (envelope.type, envelope.stream_id, envelope.command_id) == (
        "CreateProduct",
        str(IDS[0]),
        str(IDS[1]),
    )
    assert envelope.payload == {
        **VALID,
        "product_id": str(IDS[0]),
        "category": "kitchen",
        "description": None,
        "stock": 0,
    }


@pytest.mark.parametrize(
    "change, field",
    [
        ({"sku": ""}, "sku"),
        ({"sku": "A" * 65}, "sku"),
        ({"sku": "has space"}, "sku"),
        ({"sku": "NL\n"}, "sku"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "   "}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"category": "x" * 65}, "category"),
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": 12.5}, "price_cents"),
        ({"price_cents": "1250"}, "price_cents"),
        ({"price_cents": True}, "price_cents"),
        ({"price_cents": 2**63}, "price_cents"),
        ({"price_cents": MAX_PRICE_CENTS + 1}, "price_cents"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),  # 3 capitals, but no ISO 4217 code
        ({"currency": "HRK"}, "currency"),  # withdrawn in 2023
        ({"stock": -1}, "stock"),
        ({"stock": None}, "stock"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_get_422_naming_the_field_and_nothing_is_queued(client, bus, change, field):
    result = client.simulate_post("/products", json={**VALID, **change})
    assert result.status_code == 422
    assert result.headers["Content-Type"] == "application/problem+json"
    assert result.json["status"] == 422
    assert list(result.json["errors"]) == [field]
    assert bus.submitted == []


@pytest.mark.parametrize("currency", ["EUR", "JPY", "CHF", "XCG"])
def test_iso_4217_currencies_are_accepted(client, bus, currency):
    assert client.simulate_post("/products", json={**VALID, "currency": currency}).status_code == 202
    assert bus.submitted[0].payload["currency"] == currency


def test_an_unknown_currency_is_named_as_such(client):
    result = client.simulate_post("/products", json={**VALID, "currency": "XYZ"})
    assert result.json["errors"] == {
        "currency": ["must be an ISO 4217 currency code in capitals, such as EUR"]
    }


def test_the_highest_price_is_accepted_and_the_error_says_what_it_is(client, bus):
    highest = client.simulate_post("/products", json={**VALID, "price_cents": MAX_PRICE_CENTS})
    assert highest.status_code == 202
    result = client.simulate_post("/products", json={**VALID, "price_cents": MAX_PRICE_CENTS + 1})
    assert str(MAX_PRICE_CENTS) in result.json["errors"]["price_cents"][0]
    assert len(bus.submitted) == 1


def test_missing_fields_are_each_named(client, bus):
    result = client.simulate_post("/products", json={})
    assert result.status_code == 422
    assert set(result.json["errors"]) == {"sku", "name", "price_cents", "currency"}
    assert bus.submitted == []


@pytest.mark.parametrize("raw", ["{", '{"sku": }', "", '{"price_cents": NaN}', "\xff"])
def test_malformed_json_gets_400(client, bus, raw):
    result = client.simulate_post("/products", body=raw, headers={"Content-Type": "application/json"})
    assert result.status_code == 400
    assert result.headers["Content-Type"] == "application/problem+json"
    assert bus.submitted == []


def test_a_body_that_is_not_an_object_gets_422(client, bus):
    result = client.simulate_post("/products", json=[VALID])
    assert result.status_code == 422 and "body" in result.json["errors"]
    assert bus.submitted == []


def test_a_body_that_is_not_json_gets_415(client, bus):
    result = client.simulate_post("/products", body=json.dumps(VALID), headers={"Content-Type": "text/plain"})
    assert result.status_code == 415
    assert bus.submitted == []


def test_a_body_over_64_kib_gets_413(client, bus):
    result = client.simulate_post("/products", json={**VALID, "description": "x" * 70_000})
    assert result.status_code == 413
    assert bus.submitted == []


def test_reading_a_product():
    doc = {
        "_id": str(IDS[0]), "sku": "MUG-1", "name": "Mug", "description": None, "category": None,
        "price_cents": 1250, "currency": "EUR", "stock_available": 3, "stock_reserved": 0, "version": 1,
        "created_at": "2026-11-26T05:40:00.123Z", "updated_at": "2026-11-26T05:40:00.123Z",
    }  # fmt: skip
    client = make_client(product_views=FakeViews([product_json(doc)]))
    result = client.simulate_get(f"/products/{IDS[0]}")
    assert result.status_code == 200
    assert result.json["id"] == str(IDS[0]) and result.json["version"] == 1
    missing = client.simulate_get(f"/products/{IDS[1]}")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert missing.json["title"] == "Not Found"


def test_reading_a_command_status():
    from domain.commands import CreateProduct
    from infra.messages import CommandEnvelope

    envelope = CommandEnvelope.wrap(CreateProduct(product_id="p", **VALID), command_id=str(IDS[5]))
    client = make_client(statuses=FakeStatuses([record(envelope, "accepted")]))
    result = client.simulate_get(f"/commands/{IDS[5]}")
    assert result.status_code == 200
    assert result.json["status"] == "accepted"
    assert set(result.json) == {
        "command_id", "type", "status", "submitted_at", "completed_at", "stream_id", "version", "error"
    }  # fmt: skip
    assert client.simulate_get(f"/commands/{IDS[6]}").status_code == 404


@pytest.mark.parametrize("path", ["/products/not-a-uuid", "/commands/123", "/nothing"])
def test_unknown_routes_and_malformed_ids_get_404(client, path):
    result = client.simulate_get(path)
    assert result.status_code == 404
    assert result.headers["Content-Type"] == "application/problem+json"


def test_a_wrong_method_gets_405_with_allow(client):
    result = client.simulate_delete("/products")
    assert result.status_code == 405
    assert "POST" in result.headers["Allow"]
    assert result.headers["Content-Type"] == "application/problem+json"


def test_a_broken_backend_gets_503_not_a_traceback():
    import redis

    class DownBus:
        def submit(self, envelope, response, idempotency=None):
            raise redis.ConnectionError("connection refused")

    client = make_client(command_bus=DownBus())
    result = client.simulate_post("/products", json=VALID)
    assert result.status_code == 503
    assert result.headers["Retry-After"] == "5"
    assert result.headers["Content-Type"] == "application/problem+json"


def test_deeply_nested_json_gets_400_not_500(client, bus):
    raw = "[" * 30_000 + "]" * 30_000
    result = client.simulate_post("/products", body=raw, headers={"Content-Type": "application/json"})
    assert result.status_code == 400
    assert bus.submitted == []


@pytest.mark.parametrize("field", ["name", "description", "category", "sku"])
def test_text_that_cannot_be_stored_gets_422(client, bus, field):
    raw = json.dumps({**VALID, field: "mug \ud800"})
    result = client.simulate_post("/products", body=raw, headers={"Content-Type": "application/json"})
    assert result.status_code == 422
    assert field in result.json["errors"]
    assert bus.submitted == []


@pytest.mark.parametrize("fault", ["not queued", "unknown"])
def test_a_command_redis_did_not_confirm_gets_a_503_that_tells_the_truth(fault):
    from infra.commandbus import NotQueued, OutcomeUnknown
    from tests.unit.fakes import FakeCommandBus

    class Failing(FakeCommandBus):
        def submit(self, envelope, response, idempotency=None):
            raise NotQueued("refused") if fault == "not queued" else OutcomeUnknown(envelope.command_id)

    result = make_client(command_bus=Failing()).simulate_post("/products", json=VALID)
    assert result.status_code == 503
    assert result.headers["Content-Type"] == "application/problem+json"
    if fault == "not queued":
        assert "nothing was queued" in result.json["detail"]
        assert "Location" not in result.headers
    else:
        # It may have been queued: the answer names the command to follow
        assert result.json["command_id"] == str(IDS[1])
        assert result.headers["Location"] == f"/commands/{IDS[1]}"


class Endless(io.RawIOBase):
    """A chunked body that never ends, counting what is read of it."""

    def __init__(self, prefix: bytes):
        self.prefix = prefix
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "the body must be read in bounded pieces"
        piece = (self.prefix + b" " * size)[self.read_bytes : self.read_bytes + size]
        self.read_bytes += len(piece)
        return piece

    def readline(self, size: int = -1) -> bytes:
        raise AssertionError("a body has no lines to read")


def chunked(stream) -> dict:
    """What gunicorn gives the app for ``Transfer-Encoding: chunked``: no
    ``CONTENT_LENGTH``, and an input that ends with the body."""
    return {"wsgi.input": stream, "wsgi.input_terminated": True}


def test_a_chunked_body_is_read(client, bus):
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    result = client.simulate_post(
        "/products", headers=headers, extras=chunked(io.BytesIO(json.dumps(VALID).encode()))
    )
    assert result.status_code == 202, result.json
    assert bus.submitted[0].payload["sku"] == VALID["sku"]


def test_a_large_chunked_body_gets_413_having_read_no_more_than_the_limit(client, bus):
    stream = Endless(b'{"sku": "MUG-1", "description": "')
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    result = client.simulate_post("/products", headers=headers, extras=chunked(stream))
    assert result.status_code == 413
    assert result.headers["Content-Type"] == "application/problem+json"
    assert stream.read_bytes == MAX_BODY_BYTES + 1
    assert bus.submitted == []


def test_a_body_of_exactly_64_kib_is_read_whole(client, bus):
    raw = json.dumps({**VALID, "description": ""}).encode()
    raw = raw.replace(b'"description": ""', b'"description": "' + b" " * (MAX_BODY_BYTES - len(raw)) + b'"')
    assert len(raw) == MAX_BODY_BYTES
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    result = client.simulate_post("/products", headers=headers, extras=chunked(io.BytesIO(raw)))
    # read whole: the description's 2,000-character rule is what refuses it, not the size
    assert result.status_code == 422 and list(result.json["errors"]) == ["description"]


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        f"/products/{IDS[0]}",
        "/products",
        f"/products/{IDS[9]}",  # not found
        "/openapi.json",
        "/docs",
    ],
)
def test_head_answers_like_get_without_a_body(path):
    doc = {
        "_id": str(IDS[0]), "sku": "MUG-1", "name": "Mug", "description": None, "category": None,
        "price_cents": 1250, "currency": "EUR", "stock_available": 3, "stock_reserved": 0,
        "version": 2, "created_at": "2026-11-26T05:34:19.712Z", "updated_at": "2026-11-26T05:34:19.712Z",
    }  # fmt: skip
    client = make_client(product_views=FakeViews([product_json(doc)]))
    got, head = client.simulate_get(path), client.simulate_head(path)
    assert head.status_code == got.status_code
    assert head.content == b"" and got.content != b""
    ignored = {"x-request-id"}
    assert {k: v for k, v in head.headers.items() if k not in ignored} == {
        k: v for k, v in got.headers.items() if k not in ignored
    }


def test_head_is_allowed_wherever_get_is_and_nowhere_else(client):
    assert "HEAD" in client.simulate_put("/products").headers["Allow"]
    refused = client.simulate_head(f"/orders/{IDS[0]}/cancel")
    assert refused.status_code == 405 and "HEAD" not in refused.headers["Allow"]
