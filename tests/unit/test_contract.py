"""The OpenAPI document covers every route the app serves, and is valid."""

import re

from falcon import inspect
from openapi_spec_validator import validate

from infra.settings import Settings
from tests.unit.fakes import make_client
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
        if route.path in ("/openapi.json", "/docs") or route.path.startswith("/docs/"):
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
