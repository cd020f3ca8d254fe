"""``GET /commands/{id}/events`` against the Procfile's processes: an
order's story streamed live to its confirmation, resumed with
``Last-Event-ID``, and fifty open streams while other requests answer."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.test_orders import create_product, place

STREAM = {"Accept": "text/event-stream"}


def read_events(response: requests.Response, *, until=None, limit_s: float = 60.0) -> list[dict]:
    """The events of an open text/event-stream response, until it closes,
    ``until(events)`` holds, or ``limit_s`` passes (a later call reads on
    from there)."""
    events, fields = [], {}
    deadline = time.monotonic() + limit_s
    if not hasattr(response, "lines"):
        # One reader per response: each keeps what it read ahead.
        response.lines = response.iter_lines(decode_unicode=True)
    for line in response.lines:
        if line:
            name, _, value = line.partition(":")
            fields.setdefault(name or "comment", value.removeprefix(" "))
            continue
        if "event" in fields:
            events.append({**fields, "data": json.loads(fields["data"])})
            if until is not None and until(events):
                break
        fields = {}
        assert time.monotonic() < deadline, f"the stream did not close within {limit_s} s: {events}"
    return events


def story(stack, command_id: str, **headers) -> requests.Response:
    response = requests.get(
        f"{stack.url}/commands/{command_id}/events", headers={**STREAM, **headers}, stream=True, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return response


def test_an_order_of_two_lines_is_told_live_from_acceptance_to_confirmation(stack):
    mug, plate = create_product(stack, stock=5), create_product(stack, stock=5)
    placed = place(
        stack, "cust-events", [{"product_id": mug, "quantity": 1}, {"product_id": plate, "quantity": 2}]
    )
    with story(stack, placed["command_id"]) as response:
        events = read_events(response)
    names = [e["event"] for e in events]

    def first(name, where=lambda data: True, after=-1):
        return next(i for i, e in enumerate(events) if i > after and e["event"] == name and where(e["data"]))

    accepted = first("accepted")
    committed = first("committed", lambda d: d["command_id"] == placed["command_id"], accepted)
    assert events[committed]["data"]["events"] == [{"type": "OrderPlaced", "version": 1}]
    reservations = [
        i
        for i, e in enumerate(events)
        if e["event"] == "follow_up" and e["data"]["follow_up"]["type"] == "ReserveStock"
    ]
    assert len(reservations) == 2 and min(reservations) > committed
    assert {events[i]["data"]["follow_up"]["stream_id"] for i in reservations} == {mug, plate}
    projected = first("projected", lambda d: d["read_model"] == "orders", max(reservations))
    confirmed = first("committed", lambda d: "OrderConfirmed" in [e["type"] for e in d["events"]], projected)
    assert names[-1] == "end" and confirmed < len(events) - 1
    assert events[-1]["data"]["status"] == "succeeded"
    # Ids are the story's own, in order: what a client resumes from.
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert stack.get(f"/orders/{placed['order_id']}").json()["status"] == "confirmed"

    # Asked again once it ended: the whole story at once, then closed.
    with story(stack, placed["command_id"]) as again:
        assert [e["id"] for e in read_events(again, limit_s=5)] == ids


def test_a_reconnection_with_last_event_id_resumes_without_loss_or_repeats(stack):
    mug = create_product(stack, stock=5)
    placed = place(stack, "cust-resume", [{"product_id": mug, "quantity": 1}])
    with story(stack, placed["command_id"]) as response:
        head = read_events(response, until=lambda events: len(events) == 2)
    with story(stack, placed["command_id"], **{"Last-Event-ID": head[-1]["id"]}) as response:
        rest = read_events(response)
    with story(stack, placed["command_id"]) as response:
        whole = read_events(response)
    assert [e["id"] for e in head + rest] == [e["id"] for e in whole]
    assert whole[-1]["event"] == "end"


def test_fifty_streams_are_served_while_other_requests_answer_within_a_second(stack):
    # With the worker stopped, every story stays open after its acceptance.
    stack.stop_process("worker")
    try:
        commands = []
        for _ in range(50):
            body = {
                "sku": f"SSE-{uuid.uuid4().hex[:10]}",
                "name": "Cup",
                "price_cents": 100,
                "currency": "EUR",
            }
            answer = stack.post("/products", json=body)
            assert answer.status_code == 202, answer.text
            commands.append(answer.json()["command_id"])
        streams = [story(stack, command_id) for command_id in commands]
        try:
            with ThreadPoolExecutor(50) as pool:
                firsts = list(
                    pool.map(lambda r: read_events(r, until=lambda events: True, limit_s=10), streams)
                )
            assert all(events[0]["event"] == "accepted" for events in firsts)
            # Fifty clients are streaming; the service still answers others.
            for path in ("/health", f"/commands/{commands[0]}", "/products?limit=5", "/ready"):
                started = time.monotonic()
                assert stack.get(path).status_code == 200
                assert time.monotonic() - started < 1.0, path
            stack.start_process("worker")
            with ThreadPoolExecutor(50) as pool:
                rests = list(pool.map(lambda r: read_events(r, limit_s=60), streams))
            assert all(events[-1]["event"] == "end" for events in rests)
        finally:
            for response in streams:
                response.close()
    finally:
        if stack.processes["worker"].poll() is not None:
            stack.start_process("worker")


def open_streams_metric(stack) -> float:
    """``shop_event_streams_open`` summed over the web process's workers."""
    scraped = stack.get("/metrics").text
    [line] = [line for line in scraped.splitlines() if line.startswith("shop_event_streams_open ")]
    return float(line.split()[1])


def test_clients_that_left_give_their_slots_back_within_seconds(stack):
    # With the worker stopped, a story stays open: each stream of it holds
    # a waiting slot (48 per web process, 96 in all).
    stack.stop_process("worker")
    try:
        body = {"sku": f"SSE-{uuid.uuid4().hex[:10]}", "name": "Cup", "price_cents": 100, "currency": "EUR"}
        command_id = stack.post("/products", json=body).json()["command_id"]
        url = f"{stack.url}/commands/{command_id}/events"

        def fill(most: int = 400) -> tuple[list[requests.Response], int]:
            """Streams opened until 96 are served (the two processes do not
            take connections evenly), and how many were refused (503)."""
            served, refused = [], 0
            with ThreadPoolExecutor(16) as pool:
                while len(served) < 96 and len(served) + refused < most:
                    for r in pool.map(
                        lambda _: requests.get(url, headers=STREAM, stream=True, timeout=30), range(16)
                    ):
                        if r.status_code == 200 and len(served) < 96:
                            served.append(r)
                        else:
                            refused += r.status_code == 503
                            r.close()
            return served, refused

        served, _ = fill()
        assert len(served) == 96
        for response in served:
            read_events(response, until=lambda events: True, limit_s=10)
        assert open_streams_metric(stack) == 96
        assert requests.get(url, headers=STREAM, timeout=30).status_code == 503
        # When every client closes its connection
        for response in served:
            response.close()
        # I expect their slots back within seconds: not only when a
        # heartbeat (15 s apart) finds the connection closed
        time.sleep(3)
        assert open_streams_metric(stack) == 0
        again, _ = fill()
        try:
            assert len(again) == 96
        finally:
            for response in again:
                response.close()
    finally:
        stack.start_process("worker")
