"""Readiness answers within its second, whatever hangs."""

import time

from tests.unit.fakes import make_client


def sleeper(seconds, fail=False):
    def check():
        time.sleep(seconds)
        if fail:
            raise ConnectionError("down")

    return check


def test_checks_run_together_under_one_deadline():
    client = make_client(ready_checks={"redis": sleeper(0.6), "mongodb": sleeper(0.6)})
    started = time.monotonic()
    assert client.simulate_get("/ready").status_code == 200
    assert time.monotonic() - started < 0.95


def test_a_hanging_or_failing_dependency_is_named_within_a_second():
    client = make_client(ready_checks={"redis": sleeper(0.0, fail=True), "mongodb": sleeper(5)})
    started = time.monotonic()
    answer = client.simulate_get("/ready")
    assert time.monotonic() - started < 1.5
    assert answer.status_code == 503 and answer.json["down"] == ["redis", "mongodb"]
    assert client.simulate_get("/health").json == {"status": "ok"}
