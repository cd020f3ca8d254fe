"""One order's trace across the Procfile's processes: the request, the
command actor, its commit, the follow-up commands the process manager
sends and the projections share one trace id, each span a child of the
span that caused it.  The console exporter writes each span as one JSON
line among the process's log lines."""

from __future__ import annotations

import json
import secrets
import time
import uuid

from tests.e2e.test_orders import create_product, wait_orders

STACK_ENV = {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100"}


def spans_of(stack, trace_id: str) -> list[dict]:
    """Every span of the trace written so far, with the process it came from."""
    found = []
    for path in stack.logs.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"trace_id"' in line:
                span = json.loads(line)
                if span["context"]["trace_id"] == trace_id:
                    found.append({**span, "_process": path.stem})
    return found


def named(spans: list[dict], name: str) -> list[dict]:
    return [span for span in spans if span["name"] == name]


def children(spans: list[dict], parent: dict, name: str) -> list[dict]:
    return [s for s in named(spans, name) if s["parent_id"] == parent["context"]["span_id"]]


def orphans(spans: list[dict]) -> list[str]:
    """The spans whose parent is not (yet) among ``spans``, but for the
    request, whose parent is the caller's."""
    ids = {s["context"]["span_id"] for s in spans}
    return [s["name"] for s in spans if s["parent_id"] not in ids and s["name"] != "POST /orders"]


def test_one_order_is_one_trace_across_web_worker_and_projector(stack):
    mug, plate = create_product(stack, stock=5), create_product(stack, stock=5)
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    answer = stack.post(
        "/orders",
        json={
            "customer_id": f"trace-{uuid.uuid4().hex[:6]}",
            "currency": "EUR",
            "lines": [{"product_id": mug, "quantity": 1}, {"product_id": plate, "quantity": 2}],
        },
        headers={"traceparent": f"00-{trace_id}-{caller}-01"},
    )
    assert answer.status_code == 202, answer.text
    assert wait_orders(stack, [answer.json()["order_id"]])[answer.json()["order_id"]]["status"] == "confirmed"

    # The order is confirmed: its projection is the last span to be
    # written, within the exporter's schedule (0.1 s here).
    wanted = {
        "POST /orders": 1,
        "handle_command PlaceOrder": 1,
        "append order": 3,  # placed, then each line reserved
        "handle_command ReserveStock": 2,
        "append product": 2,
        "handle_command MarkLineReserved": 2,
        "project_stream order": 3,
        "project_stream product": 2,
    }
    deadline = time.monotonic() + 30
    while True:
        spans = spans_of(stack, "0x" + trace_id)
        if all(len(named(spans, name)) >= count for name, count in wanted.items()) and not orphans(spans):
            break
        assert time.monotonic() < deadline, (
            f"spans of the trace: {sorted(s['name'] for s in spans)}\n{stack.tail()}"
        )
        time.sleep(0.2)

    by_process = {s["_process"] for s in spans}
    assert {"web", "worker", "projector"} <= by_process
    services = {s["_process"]: s["resource"]["attributes"]["service.name"] for s in spans}
    assert services["web"] == "web"

    # The request continues the caller's trace, and queues the command.
    (request,) = named(spans, "POST /orders")
    assert request["_process"] == "web" and request["kind"] == "SpanKind.SERVER"
    assert request["parent_id"] == "0x" + caller
    (place,) = children(spans, request, "handle_command PlaceOrder")
    assert place["_process"] == "worker" and place["kind"] == "SpanKind.CONSUMER"

    # The command's commit, then what it calls for: a reservation per line
    # and the order's projection.
    assert len(children(spans, place, "append order")) == 1
    (dispatch,) = children(spans, place, "dispatch order")
    reserves = children(spans, dispatch, "handle_command ReserveStock")
    assert {r["attributes"]["shop.stream.id"] for r in reserves} == {mug, plate}
    assert [p["_process"] for p in children(spans, dispatch, "project_stream order")] == ["projector"]

    # Each reservation commits, and tells the order.
    for reserve in reserves:
        assert len(children(spans, reserve, "append product")) == 1
        (announced,) = children(spans, reserve, "dispatch product")
        assert len(children(spans, announced, "handle_command MarkLineReserved")) == 1
        assert len(children(spans, announced, "project_stream product")) == 1

    # Every span's parent is in the trace, but for the caller's.
    assert orphans(spans) == []
