"""HTTP as the Procfile's gunicorn speaks it: chunked bodies, HEAD, merge
patches, and the answers gunicorn gives itself."""

import json
import shutil
import subprocess

import pytest
import requests

PRODUCT = {"sku": "E2E-HTTP-1", "name": "Mug", "price_cents": 1250, "currency": "JPY", "stock": 3}


def pieces(raw: bytes, size: int = 1000):
    """A generator body: requests sends it chunked, with no Content-Length."""
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


@pytest.fixture(scope="module")
def product_id(stack):
    accepted = stack.post("/products", data=pieces(json.dumps(PRODUCT).encode()),
                          headers={"Content-Type": "application/json"})  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    assert accepted.request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in accepted.request.headers
    assert stack.wait_for(accepted.json()["command_id"])["status"] == "succeeded"
    return stack.wait_for_product(accepted.json()["product_id"])["id"]


def test_a_chunked_body_is_read(stack, product_id):
    product = stack.get(f"/products/{product_id}").json()
    assert (product["sku"], product["price_cents"], product["currency"]) == ("E2E-HTTP-1", 1250, "JPY")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not on PATH")
def test_curl_upload_from_stdin_is_read(stack):
    body = json.dumps({**PRODUCT, "sku": "E2E-HTTP-CURL"}).encode()
    curl = ["curl", "-s", "-X", "POST", "-T", "-", "-H", "Content-Type: application/json"]
    answer = subprocess.run(
        [*curl, stack.url + "/products"], input=body, capture_output=True, timeout=30, check=True
    )
    accepted = json.loads(answer.stdout)
    assert accepted["status"] == "accepted", accepted
    assert stack.wait_for(accepted["command_id"])["status"] == "succeeded"


def test_a_large_chunked_body_gets_413(stack):
    raw = json.dumps({**PRODUCT, "description": "x" * 100_000}).encode()
    refused = stack.post("/products", data=pieces(raw, 8192), headers={"Content-Type": "application/json"})
    assert refused.status_code == 413
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["title"] == "Content Too Large"


def test_head_answers_like_get_without_a_body(stack, product_id):
    for path in (
        f"/products/{product_id}",
        "/products",
        "/health",
        "/products/00000000-0000-4000-8000-0000000000ff",
    ):
        got, head = stack.get(path), requests.head(stack.url + path, timeout=10)
        assert head.status_code == got.status_code, path
        assert head.content == b""
        assert head.headers["Content-Length"] == str(len(got.content)), path
        for name in ("Content-Type", "ETag", "Read-Model-Version"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not on PATH")
def test_curl_i_works(stack, product_id):
    answer = subprocess.run(["curl", "-sI", f"{stack.url}/products/{product_id}"],
                            capture_output=True, timeout=30, check=True, text=True)  # fmt: skip
    assert answer.stdout.startswith("HTTP/1.1 200 OK")
    assert 'etag: "1"' in answer.stdout.lower()


def test_a_merge_patch_changes_the_product(stack, product_id):
    accepted = stack.patch(f"/products/{product_id}", data=json.dumps({"price_cents": 990, "category": None}),
                           headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    command_id = accepted.json()["command_id"]
    product = stack.get(f"/products/{product_id}?after={command_id}", headers={"Prefer": "wait=10"}).json()
    assert product["price_cents"] == 990
    refused = stack.patch(f"/products/{product_id}", data="{}", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415
    assert refused.headers["Accept-Patch"] == "application/json, application/merge-patch+json"


def test_a_currency_that_iso_4217_does_not_list_gets_422(stack):
    refused = stack.post("/products", json={**PRODUCT, "currency": "XYZ"})
    assert refused.status_code == 422
    assert list(refused.json()["errors"]) == ["currency"]


@pytest.mark.parametrize(
    "request_kwargs, status",
    [
        ({"params": {"category": "x" * 9000}}, 414),
        ({"headers": {"X-Large": "x" * 9000}}, 431),
        ({"headers": {f"X-Header-{i}": "x" for i in range(101)}}, 431),
    ],
)
def test_what_gunicorn_refuses_itself_is_a_problem_too(stack, request_kwargs, status):
    refused = requests.get(stack.url + "/products", timeout=10, **request_kwargs)
    assert refused.status_code == status
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["status"] == status


def test_the_docs_page_icon_is_served(stack):
    icon = stack.get("/docs/static/favicon-32x32.png")
    assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG")
