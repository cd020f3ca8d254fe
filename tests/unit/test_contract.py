"""The OpenAPI document covers every route the app serves, and is valid."""

import json
import re

from falcon import inspect
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from infra.settings import Settings
from tests.unit.fakes import make_client
from web import examples
from web.contract import document


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # the docs page reads the same contract as OpenAPI 3.0
    older = document("3.0.3")
    validate(older)
    assert older["paths"].keys() == doc["paths"].keys()


def test_every_route_and_method_is_documented():
    client = make_client()
    routes = inspect.inspect_routes(client.app)
    documented = document()["paths"]
    for route in routes:
        # the contract's own routes, and the files pages load
        if route.path in ("/openapi.json", "/docs") or route.path.startswith(("/docs/", "/ops/static/")):
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)
        assert path in documented, path
        methods = {m.method.lower() for m in route.methods if m.internal is False and m.method != "OPTIONS"}
        assert methods == {m for m in documented[path] if m != "parameters"}, path


def test_the_contract_and_docs_need_no_token():
    settings = Settings(mongodb_uri="", mongodb_database="", redis_url="", api_tokens=(("t", "admin"),))
    client = make_client(settings=settings)
    assert client.simulate_get("/openapi.json").status_code == 200
    assert client.simulate_get("/docs").status_code == 200
    assert client.simulate_get("/docs/static/swagger-ui.css").status_code == 200
    assert client.simulate_get("/docs/openapi-3.0.json").json["openapi"] == "3.0.3"
    # only the page's own assets: not the bundle's example page
    assert client.simulate_get("/docs/static/index.html").status_code == 404
    assert client.simulate_get("/docs/static/../../../etc/passwd").status_code == 404
    assert client.simulate_get("/products").status_code == 401


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def test_every_request_example_is_accepted_by_the_app(client, bus):
    sent = 0
    for path, method, operation in operations(document()):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            url = path.format(product_id=examples.PRODUCT_ID, order_id=examples.ORDER_ID)
            answer = client.simulate_request(
                method.upper(), url, body=json.dumps(media["example"]), headers={"Content-Type": media_type}
            )
            assert answer.status_code == 202, (method, path, media_type, answer.json)
            documented = operation["responses"]["202"]["content"]["application/json"]["example"]
            assert answer.json.keys() == documented.keys(), (method, path)
            sent += 1
    assert sent == 5  # create, patch as JSON and as a merge patch, adjust stock, place an order


def test_every_response_example_matches_its_schema():
    doc = document()
    checked = 0
    for _, _, operation in operations(doc):
        for response in operation["responses"].values():
            for media in response.get("content", {}).values():
                if "example" in media:
                    schema = {**media["schema"], "components": doc["components"]}
                    Draft202012Validator(schema, format_checker=FormatChecker()).validate(media["example"])
                    checked += 1
    # the 202 and the dry run's 200 of 6 commands, the 202 of a retry, the 200 of 8 reads, of
    # /ops/data and of /dead-letters, a command's story
    assert checked == 24


def test_each_command_documents_the_one_id_it_answers_with():
    for path, method, operation in operations(document()):
        if "202" not in operation["responses"] or operation["tags"] == ["operations"]:
            continue
        media = operation["responses"]["202"]["content"]["application/json"]
        ids = {"product_id", "order_id"} & media["example"].keys()
        expected = "order_id" if path.startswith("/orders") else "product_id"
        assert ids == {expected}, (method, path)
        schema = document()["components"]["schemas"][media["schema"]["$ref"].rsplit("/", 1)[1]]
        assert expected in schema["required"]
        assert {"product_id", "order_id"} & schema["properties"].keys() == {expected}


def test_head_is_documented_for_every_get_as_headers_only():
    for path, item in document()["paths"].items():
        assert ("get" in item) == ("head" in item), path
        if "head" in item:
            assert item["head"]["responses"].keys() == item["get"]["responses"].keys()
            assert all("content" not in r for r in item["head"]["responses"].values()), path
            assert item["head"]["responses"]["200"].get("headers") == item["get"]["responses"]["200"].get(
                "headers"
            )


def test_patch_documents_both_media_types_and_gunicorn_refusals_are_problems():
    patch = document()["paths"]["/products/{product_id}"]["patch"]
    assert set(patch["requestBody"]["content"]) == {"application/json", "application/merge-patch+json"}
    assert "Accept-Patch" in patch["responses"]["415"]["headers"]
    for status in ("414", "431"):
        assert set(patch["responses"][status]["content"]) == {"application/problem+json"}


def test_the_docs_page_asks_only_for_what_is_served(client):
    page = client.simulate_get("/docs").text
    assets = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert any("favicon" in a for a in assets)  # else browsers ask for /favicon.ico
    for asset in assets:
        assert client.simulate_get(asset).status_code == 200, asset
