"""The published contract, fuzzed against the running service: schemathesis
generates requests for every operation (seeded, a few hundred in all) and
checks that none is a 500, that every answer matches the document, and
that only documented status codes come back."""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from web.contract import document

STACK_ENV = {"API_TOKENS": "e2e-admin:admin", "ALLOW_ANONYMOUS": ""}
AUTH = {"Authorization": "Bearer e2e-admin"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# HEAD answers GET's statuses and headers without the body (web.routing);
# tests/unit and tests/e2e/test_http.py check that, so fuzzing GET covers both.
schema = schemathesis.openapi.from_dict(document()).exclude(method="HEAD")


@pytest.fixture(scope="module")
def fuzzed(request):
    """What the fuzzing sent.  Once every operation was fuzzed, whatever
    the order the tests ran in, the total must be bounded and real; unless
    ``-k`` chose some operations, every one of them must have been."""
    sent = {"requests": 0, "operations": set()}
    yield sent
    every = {result.ok().label for result in schema.get_all_operations()}
    if sent["operations"] != every:
        if not request.config.option.keyword:
            pytest.fail(f"never fuzzed: {sorted(every - sent['operations'])}")
        return
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\nschemathesis sent {sent['requests']} requests")
    assert 100 <= sent["requests"] <= 1500, sent["requests"]


def test_the_document_is_valid_openapi_and_served_without_a_token(stack):
    served = requests.get(stack.url + "/openapi.json", timeout=10)
    assert served.status_code == 200 and served.json()["openapi"] == "3.1.0"
    validate(served.json())
    docs = requests.get(stack.url + "/docs", timeout=10)
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert requests.get(stack.url + "/docs/static/swagger-ui-bundle.js", timeout=10).status_code == 200
    assert requests.get(stack.url + "/products", timeout=10).status_code == 401


@schema.parametrize()
@settings(max_examples=5, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_service_keeps_its_contract(case, stack, fuzzed):
    fuzzed["requests"] += 1
    fuzzed["operations"].add(case.operation.label)
    case.call_and_validate(base_url=stack.url, headers=AUTH, checks=CHECKS)

