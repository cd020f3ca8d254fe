"""Read-your-writes and freshness headers through ``falcon.testing`` with
fakes: ``after=``, ``Prefer: wait``, ETag/304 and the Read-Model-* headers."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.progress import Head
from tests.unit.fakes import (
    IDS,
    FakeClock,
    FakeHistory,
    FakeOrderViews,
    FakeProgress,
    FakeStatuses,
    FakeVersions,
    FakeViews,
    make_client,
)
from web.waiting import prefer_wait

PRODUCT = str(IDS[70])
UPDATED = "2026-11-26T06:00:00.000Z"


def product(version=2):
    return {"id": PRODUCT, "name": "Mug", "version": version, "updated_at": UPDATED}


def status(state, version=2, command=IDS[71], stream_type="product"):
    return {
        "command_id": str(command),
        "type": "AdjustStock",
        "status": state,
        "stream_id": PRODUCT,
        "stream_type": stream_type,
        "version": version if state == "succeeded" else None,
        "error": None,
    }


def client_with(statuses=(), versions=None, progress=None, **fakes):
    return make_client(
        product_views=FakeViews([product()]),
        statuses=FakeStatuses(list(statuses)),
        versions=FakeVersions(versions or {}),
        progress=progress or FakeProgress(),
        **fakes,
    )


def test_an_item_says_its_version_and_freshness():
    progress = FakeProgress(heads={PRODUCT: Head(version=2, recorded_ms=0)})
    result = client_with(progress=progress).simulate_get(f"/products/{PRODUCT}")
    assert result.status_code == 200
    assert result.headers["ETag"] == '"2"'
    assert result.headers["Read-Model-Version"] == "2"
    assert result.headers["Read-Model-Updated-At"] == UPDATED
    assert result.headers["Read-Model-Lag"] == "0"


def test_lag_is_the_time_between_the_newest_commit_and_the_newest_applied_event():
    updated = "2026-11-26T06:00:00.000Z"
    from infra.messages import parse_rfc3339
    from infra.progress import to_ms

    committed_ms = to_ms(parse_rfc3339(updated)) + 2_500
    progress = FakeProgress(heads={PRODUCT: Head(version=3, recorded_ms=committed_ms)})
    result = client_with(progress=progress).simulate_get(f"/products/{PRODUCT}")
    assert result.headers["Read-Model-Lag"] == "2.5"


def test_if_none_match_with_the_current_version_gets_304():
    client = client_with()
    assert client.simulate_get(f"/products/{PRODUCT}", headers={"If-None-Match": '"2"'}).status_code == 304
    assert client.simulate_get(f"/products/{PRODUCT}", headers={"If-None-Match": 'W/"2"'}).status_code == 304
    assert (
        client.simulate_get(f"/products/{PRODUCT}", headers={"If-None-Match": '"1", "7"'}).status_code == 200
    )
    not_modified = client.simulate_get(f"/products/{PRODUCT}", headers={"If-None-Match": "*"})
    assert not_modified.status_code == 304 and not_modified.headers["ETag"] == '"2"'


def test_lists_and_history_carry_freshness_too():
    events = [
        {"type": "ProductCreated", "version": 1, "data": {}, "recorded_at": "2026-11-26T05:00:00.000Z"},
        {"type": "StockAdjusted", "version": 2, "data": {}, "recorded_at": UPDATED},
    ]
    client = client_with(history=FakeHistory({PRODUCT: events}))
    listed = client.simulate_get("/products")
    assert listed.headers["Read-Model-Updated-At"] == UPDATED and listed.headers["Read-Model-Lag"] == "0"
    history = client.simulate_get(f"/products/{PRODUCT}/history")
    assert (history.headers["ETag"], history.headers["Read-Model-Version"]) == ('"2"', "2")
    assert history.headers["Read-Model-Updated-At"] == UPDATED and history.headers["Read-Model-Lag"] == "0"


def test_an_empty_list_reports_the_newest_applied_time_of_its_read_model():
    from infra.messages import parse_rfc3339

    client = make_client(progress=FakeProgress(newest=parse_rfc3339(UPDATED)), order_views=FakeOrderViews())
    result = client.simulate_get("/customers/nobody/orders")
    assert result.json["items"] == []
    assert result.headers["Read-Model-Updated-At"] == UPDATED and result.headers["Read-Model-Lag"] == "0"


def test_after_a_command_whose_effect_is_projected_answers_at_once():
    clock = FakeClock()
    client = client_with([status("succeeded", version=2)], versions={PRODUCT: 2}, clock=clock)
    started = clock()
    result = client.simulate_get(f"/products/{PRODUCT}", params={"after": str(IDS[71])})
    assert clock() - started < 0.5
    assert result.headers["Preference-Applied"] == "wait=2"
    assert result.headers["Read-Model-Stale"] == "false"


def test_after_waits_as_long_as_asked_then_says_stale():
    clock = FakeClock()
    client = client_with([status("succeeded", version=3)], versions={PRODUCT: 2}, clock=clock)
    started = clock()
    result = client.simulate_get(
        f"/products/{PRODUCT}", params={"after": str(IDS[71])}, headers={"Prefer": "wait=1"}
    )
    elapsed = clock() - started
    assert 1.0 <= elapsed < 2.0
    assert result.status_code == 200 and result.json["version"] == 2
    assert (result.headers["Preference-Applied"], result.headers["Read-Model-Stale"]) == ("wait=1", "true")


def test_after_returns_as_soon_as_the_read_model_catches_up():
    versions = FakeVersions({PRODUCT: 2})
    clock = FakeClock()
    client = make_client(
        product_views=FakeViews([product()]),
        statuses=FakeStatuses([status("succeeded", version=3)]),
        versions=versions,
        clock=clock,
    )
    clock.after(0.3, lambda: versions.versions.__setitem__(PRODUCT, 3))
    started = clock()
    result = client.simulate_get(
        f"/products/{PRODUCT}", params={"after": str(IDS[71])}, headers={"Prefer": "wait=5"}
    )
    assert clock() - started < 1.5
    assert result.headers["Read-Model-Stale"] == "false"


@pytest.mark.parametrize("state", ["rejected", "failed"])
def test_after_a_command_that_ended_without_effect_does_not_wait(state):
    clock = FakeClock()
    client = client_with([status(state)], clock=clock)
    started = clock()
    result = client.simulate_get(f"/products/{PRODUCT}", params={"after": str(IDS[71])})
    assert clock() - started < 0.5
    assert result.headers["Read-Model-Stale"] == "false"


def test_history_after_a_succeeded_command_does_not_wait_for_projections():
    events = [{"type": "ProductCreated", "version": 1, "data": {}, "recorded_at": UPDATED, "command_id": "a"}]
    clock = FakeClock()
    client = client_with(
        [status("succeeded", version=1)], versions={}, history=FakeHistory({PRODUCT: events}), clock=clock
    )
    started = clock()
    result = client.simulate_get(f"/products/{PRODUCT}/history", params={"after": str(IDS[71])})
    assert clock() - started < 0.5 and result.headers["Read-Model-Stale"] == "false"


@pytest.mark.parametrize("after", [str(IDS[98]), "not-a-uuid"])
def test_after_an_unknown_or_malformed_command_is_400(after):
    result = client_with().simulate_get(f"/products/{PRODUCT}", params={"after": after})
    assert result.status_code == 400
    assert "after" in result.json["errors"]


def test_every_query_route_accepts_after():
    client = client_with([status("succeeded", version=1)], versions={PRODUCT: 1})
    for path in ("/products", f"/products/{PRODUCT}", "/customers/c/orders"):
        result = client.simulate_get(path, params={"after": str(IDS[71])})
        assert result.status_code == 200, path
        assert result.headers["Preference-Applied"] == "wait=2"


def test_prefer_wait_defaults_and_caps():
    assert prefer_wait(None) == 2
    assert prefer_wait("wait=5") == 5
    assert prefer_wait("respond-async, wait=100") == 10
    assert prefer_wait("return=minimal") == 2
    assert prefer_wait("wait=0") == 0


def test_a_wait_of_thousands_of_digits_is_capped_not_a_500():
    client = client_with([status("succeeded", version=2)], versions={PRODUCT: 2})
    for wait, applied in (("9" * 5000, "wait=10"), ("0" * 5000 + "3", "wait=3")):
        result = client.simulate_get(
            f"/products/{PRODUCT}", params={"after": str(IDS[71])}, headers={"Prefer": f"wait={wait}"}
        )
        assert result.status_code == 200
        assert result.headers["Preference-Applied"] == applied


@settings(max_examples=300, deadline=None)
@given(
    header=st.one_of(
        st.text(),
        # thousands of digits, some of them leading zeros
        st.builds(
            lambda zeros, ones, tail: f"wait={'0' * zeros}{'1' * ones}{tail}",
            st.integers(0, 6000),
            st.integers(0, 8000),
            st.text("0123456789", max_size=10),
        ),
        st.from_regex(r"\A[ ,;a-z]*wait *= *\"?[0-9]{0,6000}\"?[ ,;a-z=0-9]*\Z"),
    )
)
def test_any_prefer_header_gives_a_wait_between_0_and_the_maximum(header):
    assert 0 <= prefer_wait(header) <= 10


def test_reads_go_on_without_redis_and_say_what_they_cannot_know():
    import redis

    class Down:
        def get(self, command_id):
            raise redis.ConnectionError("down")

        def heads(self, ids):
            raise redis.ConnectionError("down")

        def newest_applied(self, collection):
            raise redis.ConnectionError("down")

    client = make_client(product_views=FakeViews([product()]), statuses=Down(), progress=Down())
    plain = client.simulate_get(f"/products/{PRODUCT}")
    assert plain.status_code == 200 and plain.headers["ETag"] == '"2"'
    assert "Read-Model-Lag" not in plain.headers
    waited = client.simulate_get(f"/products/{PRODUCT}", params={"after": str(IDS[71])})
    assert waited.status_code == 200
    assert (waited.headers["Read-Model-Stale"], waited.headers["Preference-Applied"]) == ("true", "wait=0")


def test_a_document_behind_its_stream_never_reports_zero_lag():
    from infra.messages import parse_rfc3339
    from infra.progress import to_ms

    skewed = to_ms(parse_rfc3339(UPDATED)) - 5_000  # a worker clock 5 s behind
    progress = FakeProgress(heads={PRODUCT: Head(version=3, recorded_ms=skewed)})
    result = client_with(progress=progress).simulate_get(f"/products/{PRODUCT}")
    assert float(result.headers["Read-Model-Lag"]) > 0


def test_a_query_the_route_refuses_is_refused_before_it_is_waited_on():
    # Not after a wait for the read model: the 400 comes at once
    clock = FakeClock()
    statuses = FakeStatuses([{"command_id": str(IDS[7]), "status": "accepted", "stream_id": str(IDS[8])}])
    client = make_client(clock=clock, statuses=statuses)
    for path, query in (
        (f"/products/{IDS[8]}", "bogus=1"),
        (f"/products/{IDS[8]}/history", "bogus=1"),
        ("/products", "limit=0"),
    ):
        resp = client.simulate_get(path, query_string=f"after={IDS[7]}&{query}", headers={"Prefer": "wait=5"})
        assert resp.status_code == 400, (path, resp.text)
        assert clock.now == 1000.0, path
