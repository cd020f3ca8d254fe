"""``GET /commands/{id}/events`` over fakes: the story as server-sent
events, resumed by ``Last-Event-ID``, live until its end, bounded."""

from __future__ import annotations

import json
import socket

from infra.settings import Settings
from infra.statuses import ACCEPTED, SUCCEEDED
from tests.unit.fakes import FakeClock, FakeHub, FakeStatuses, FakeStories, make_client
from web.stories import MAX_STREAM_S, departed

COMMAND = "00000000-0000-0000-0000-0000000000c1"
FOLLOW_UP = "00000000-0000-0000-0000-0000000000f1"


def parse(text: str) -> list[dict]:
    """The events of a text/event-stream body (comments kept as such)."""
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        fields: dict = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields.setdefault(name or "comment", value)
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        events.append(fields)
    return events


def status(state: str) -> dict:
    return {"command_id": COMMAND, "type": "CreateProduct", "status": state, "stream_id": "p1"}


def ended_story() -> FakeStories:
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    stories.tell(COMMAND, "committed", command_id=COMMAND, stream_id="p1", version_to=1)
    stories.tell(COMMAND, "status", command_id=COMMAND, status=SUCCEEDED)
    stories.tell(COMMAND, "projected", command_id=COMMAND, stream_id="p1", version=1)
    stories.tell(COMMAND, "end", command_id=COMMAND, status=SUCCEEDED)
    return stories


def no_slots() -> Settings:
    return Settings(mongodb_uri="", mongodb_database="", redis_url="", allow_anonymous=True, max_waits=0)


def test_an_ended_story_is_answered_whole_at_once_without_a_waiting_slot():
    statuses = FakeStatuses([status(SUCCEEDED)])
    client = make_client(stories=ended_story(), statuses=statuses, settings=no_slots())
    resp = client.simulate_get(f"/commands/{COMMAND}/events", headers={"Accept": "text/event-stream"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["Cache-Control"] == "no-store"
    events = parse(resp.text)
    assert events[0] == {"retry": "1000"}
    assert [e["event"] for e in events[1:]] == ["accepted", "committed", "status", "projected", "end"]
    assert [e["id"] for e in events[1:]] == ["1", "2", "3", "4", "5"]
    assert events[-1]["data"] == {"command_id": COMMAND, "status": SUCCEEDED}


def test_last_event_id_resumes_after_it_without_repeats():
    client = make_client(stories=ended_story(), statuses=FakeStatuses([status(SUCCEEDED)]))
    resp = client.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "3"})
    assert [(e["id"], e["event"]) for e in parse(resp.text)[1:]] == [("4", "projected"), ("5", "end")]


def test_a_malformed_last_event_id_is_a_problem_naming_the_header():
    client = make_client(stories=ended_story(), statuses=FakeStatuses([status(SUCCEEDED)]))
    resp = client.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "1-0"})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert "Last-Event-ID" in resp.json["errors"]


def test_an_unknown_command_is_not_found():
    resp = make_client().simulate_get(f"/commands/{COMMAND}/events")
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/problem+json"


def test_a_command_that_ended_without_a_story_tells_its_outcome():
    client = make_client(statuses=FakeStatuses([status(SUCCEEDED)]))
    events = parse(client.simulate_get(f"/commands/{COMMAND}/events").text)
    assert [e["event"] for e in events[1:]] == ["status", "end"]
    assert events[-1]["data"]["status"] == SUCCEEDED


def test_a_live_story_streams_each_step_as_it_is_told_and_closes_at_its_end():
    clock = FakeClock()
    hub = FakeHub(clock)
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    clock.after(
        0.5,
        lambda: stories.tell(
            COMMAND,
            "follow_up",
            command_id=COMMAND,
            follow_up={"command_id": FOLLOW_UP, "type": "ReserveStock"},
        ),
    )
    clock.after(0.6, lambda: stories.tell(COMMAND, "committed", command_id=COMMAND, stream_id="o1"))
    clock.after(20, lambda: stories.tell(COMMAND, "end", command_id=COMMAND, status=SUCCEEDED))
    client = make_client(clock=clock, hub=hub, stories=stories, statuses=FakeStatuses([status(ACCEPTED)]))
    events = parse(client.simulate_get(f"/commands/{COMMAND}/events").text)
    assert [e.get("event", e.get("comment")) for e in events[1:]] == [
        "accepted",
        "follow_up",
        "committed",
        "keep-alive",
        "end",
    ]
    assert 20 <= clock.now - 1000 < 22
    # Woken by what announces the next steps: the commands of the story
    # finishing, the streams it committed to moving.
    (watch,) = hub.watches
    assert watch.keys == [f"command:{COMMAND}", f"command:{FOLLOW_UP}", "stream:o1"]
    assert watch.closed


def test_a_story_that_does_not_end_is_closed_after_the_longest_stream():
    clock = FakeClock()
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    client = make_client(clock=clock, stories=stories, statuses=FakeStatuses([status(ACCEPTED)]))
    events = parse(client.simulate_get(f"/commands/{COMMAND}/events").text)
    assert events[-1] == {"comment": "keep-alive"}
    assert MAX_STREAM_S <= clock.now - 1000 < MAX_STREAM_S + 2
    # Then the client reconnects, and the slot it held is free again.
    again = client.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "1"})
    assert again.status_code == 200


def test_a_live_story_needs_a_waiting_slot_and_says_when_to_retry_without_one():
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    client = make_client(stories=stories, statuses=FakeStatuses([status(ACCEPTED)]), settings=no_slots())
    resp = client.simulate_get(f"/commands/{COMMAND}/events")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "2"
    assert resp.headers["Content-Type"] == "application/problem+json"


def test_a_head_request_takes_no_waiting_slot_and_a_stream_gives_its_own_back():
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    settings = Settings(mongodb_uri="", mongodb_database="", redis_url="", allow_anonymous=True, max_waits=1)
    client = make_client(stories=stories, statuses=FakeStatuses([status(ACCEPTED)]), settings=settings)
    for _ in range(3):
        assert client.simulate_head(f"/commands/{COMMAND}/events").status_code == 200
    live = client.simulate_get(f"/commands/{COMMAND}/events")
    assert live.status_code == 200 and "event: accepted" in live.text


def test_resuming_after_the_end_is_204_so_a_browser_stops_reconnecting():
    client = make_client(
        stories=ended_story(), statuses=FakeStatuses([status(SUCCEEDED)]), settings=no_slots()
    )
    resp = client.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "5"})
    assert resp.status_code == 204 and resp.text == ""
    # So is a story told from its status alone, resumed after its end.
    untold = make_client(statuses=FakeStatuses([status(SUCCEEDED)]), settings=no_slots())
    resumed = untold.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "2"})
    assert resumed.status_code == 204


def test_an_unknown_command_resumed_is_not_found():
    resp = make_client().simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "3"})
    assert resp.status_code == 404


def test_a_resumed_stream_is_woken_by_what_came_before_its_last_event():
    clock = FakeClock()
    hub = FakeHub(clock)
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    stories.tell(COMMAND, "committed", command_id=COMMAND, stream_id="o1")
    clock.after(1, lambda: stories.tell(COMMAND, "end", command_id=COMMAND, status=SUCCEEDED))
    client = make_client(clock=clock, hub=hub, stories=stories, statuses=FakeStatuses([status(ACCEPTED)]))
    events = parse(client.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "2"}).text)
    assert [e["event"] for e in events[1:]] == ["end"]
    assert "stream:o1" in hub.watches[0].keys


def test_a_last_event_id_past_a_live_story_is_a_problem_not_a_wait():
    # Not an id this stream sent: waiting after it would never show the end
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    client = make_client(stories=stories, statuses=FakeStatuses([status(ACCEPTED)]))
    for past in ("2", "50"):
        resp = client.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": past})
        assert resp.status_code == 400, resp.text
        assert resp.json["errors"] == {"Last-Event-ID": ["must be the id of an event this stream sent"]}
    # nor for a story that has no entries yet while its command runs
    untold = make_client(statuses=FakeStatuses([status(ACCEPTED)]))
    assert (
        untold.simulate_get(f"/commands/{COMMAND}/events", headers={"Last-Event-ID": "1"}).status_code == 400
    )


def test_head_answers_what_get_would_when_no_slot_is_free():
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    client = make_client(stories=stories, statuses=FakeStatuses([status(ACCEPTED)]), settings=no_slots())
    resp = client.simulate_head(f"/commands/{COMMAND}/events")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"


def test_a_query_parameter_is_refused():
    client = make_client(stories=ended_story(), statuses=FakeStatuses([status(SUCCEEDED)]))
    resp = client.simulate_get(f"/commands/{COMMAND}/events", params={"from": "1"})
    assert resp.status_code == 400 and resp.json["errors"] == {"from": ["is not a parameter of this route"]}


def test_a_client_that_left_gives_its_slot_back_at_the_next_wake_not_the_next_heartbeats():
    # A write to a closed connection fails only at the second heartbeat
    # (30 s): the stream looks at its client's socket each time it wakes.
    clock = FakeClock()
    stories = FakeStories()
    stories.tell(COMMAND, "accepted", command_id=COMMAND)
    settings = Settings(mongodb_uri="", mongodb_database="", redis_url="", allow_anonymous=True, max_waits=1)
    client = make_client(
        clock=clock, stories=stories, statuses=FakeStatuses([status(ACCEPTED)]), settings=settings
    )
    ours, theirs = socket.socketpair()
    try:
        theirs.close()  # the client left
        resp = client.simulate_get(f"/commands/{COMMAND}/events", extras={"gunicorn.socket": ours})
        assert [e.get("event") for e in parse(resp.text)[1:]] == ["accepted"]
        assert clock.now - 1000 < 1  # at the first wake
        # and its slot is free for the next stream
        assert client.simulate_head(f"/commands/{COMMAND}/events").status_code == 200
    finally:
        ours.close()


def test_a_connection_is_gone_only_once_its_client_closed_it():
    ours, theirs = socket.socketpair()
    try:
        gone = departed({"gunicorn.socket": ours})
        assert not gone()
        theirs.sendall(b"GET / HTTP/1.1\r\n")  # a pipelined request: still there
        assert not gone()
        assert ours.recv(100)
        theirs.close()
        assert gone()
    finally:
        ours.close()
    assert not departed({})()  # no socket to look at (another server)
