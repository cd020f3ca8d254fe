"""One command's story in the JSON logs of every process: grep its
correlation id (the request's X-Request-Id) and see it end to end."""

import json
import re
import subprocess
import time
import uuid
from datetime import datetime

import psutil

from infra.embedded import free_port
from infra.settings import Settings
from tests.e2e.conftest import PROCFILE, ROOT, procfile_env


def lines(stack):
    found = []
    for path in stack.logs.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                record["_file"] = path.stem
                found.append(record)
    return found


def test_one_request_id_follows_an_order_through_every_process(stack):
    product = stack.post(
        "/products",
        json={
            "sku": f"L-{uuid.uuid4().hex[:8]}",
            "name": "Mug",
            "price_cents": 5,
            "currency": "EUR",
            "stock": 2,
        },
    ).json()
    stack.wait_for(product["command_id"])
    request_id = f"req-{uuid.uuid4().hex}"
    answer = stack.post(
        "/orders",
        json={
            "customer_id": "log",
            "currency": "EUR",
            "lines": [{"product_id": product["product_id"], "quantity": 1}],
        },
        headers={"X-Request-Id": request_id},
    )
    assert answer.headers["X-Request-Id"] == request_id
    order_id = answer.json()["order_id"]
    deadline = time.monotonic() + 30
    while (
        stack.get(f"/orders/{order_id}").json().get("status") != "confirmed" and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    time.sleep(0.5)  # let the last log lines reach their files
    story = [r for r in lines(stack) if r.get("correlation_id") == request_id]
    processes = {r["_file"] for r in story}
    messages = " | ".join(r["message"] for r in story)
    assert {"web", "worker", "projector"} <= processes, messages
    # web: one line for the request, naming the command it queued
    [post] = [r for r in story if r["message"].startswith("POST /orders")]
    assert post["message"] == f"POST /orders 202 queued PlaceOrder {post['command_id']}"
    assert post["command_type"] == "PlaceOrder" and post["replayed"] is False
    # worker: one line per command, its outcome, naming the follow-ups it sent
    [placed] = [r for r in story if r["message"].startswith("command PlaceOrder")]
    assert placed["message"] == "command PlaceOrder succeeded" and placed["version"] == 1
    assert len(placed["follow_ups"]) == 1
    follow_up = [r for r in story if r.get("command_id") == placed["follow_ups"][0]]
    assert [r["message"] for r in follow_up if r["_file"] == "worker"] == ["command ReserveStock succeeded"]
    assert any(r["message"].startswith("command MarkLineReserved") for r in story)
    assert any(r["message"].startswith("projected") for r in story)
    assert not any(r["message"].startswith(("committed", "announced", "sent follow-up")) for r in story)
    # every line of it names its command
    assert all(r.get("command_id") for r in story if r["_file"] != "web" or "queued" in r["message"])
    # an unsafe request id is replaced, not echoed
    odd = stack.get("/products", headers={"X-Request-Id": "bad id\\x00"})
    assert odd.headers["X-Request-Id"] != "bad id\\x00"


# --- every line of every process is JSON ------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d\d:\d\d)$")


def assert_json_lines(text: str, service: str) -> list[dict]:
    """Every line of ``text`` is one JSON object naming ``service``, with an
    RFC 3339 time and a level; returns them."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{service} line {number} is not JSON: {line!r}") from None
        assert isinstance(record, dict), line
        assert record.get("service") == service, line
        assert RFC3339.fullmatch(record.get("time", "")), line
        assert datetime.fromisoformat(record["time"]).utcoffset() is not None, line
        assert record.get("level") in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), line
        assert "message" in record, line
        records.append(record)
    return records


def main_process(started: subprocess.Popen) -> psutil.Process:
    """The program ``sh -c`` ran (``sh`` itself, if it exec'd it)."""
    shell = psutil.Process(started.pid)
    return shell if shell.name() not in ("sh", "dash", "bash") else shell.children()[0]


def wait_until(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_release_step_logs_json(stack):
    release = subprocess.run(
        ["sh", "-c", PROCFILE["release"]], cwd=ROOT, env=stack.env, capture_output=True, timeout=60
    )
    assert release.returncode == 0, release.stderr.decode()
    records = assert_json_lines(release.stdout.decode() + release.stderr.decode(), "release")
    assert any(r["message"].startswith("indexes ready") for r in records), records


def test_every_line_of_every_process_is_json_from_boot_to_stop(stack):
    """Boot, requests, a problem answer, a gunicorn worker killed and
    replaced, a Dramatiq worker process killed, and a stop: nothing any
    process writes is anything but a JSON line (runs last: it stops them)."""
    bad = stack.post("/products", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    # A gunicorn worker dies: the master says so and boots another.
    master = main_process(stack.processes["web"])
    booted = len(master.children())
    victim = master.children()[0]
    victim.kill()
    wait_until(
        lambda: victim.pid not in {p.pid for p in master.children()} and len(master.children()) == booted,
        what="a gunicorn worker booted in place of the one killed",
    )
    wait_until(lambda: stack.get("/health").status_code == 200, what="web to answer again")
    # A Dramatiq worker process dies: its main process says so, and stops.
    dramatiq = main_process(stack.processes["worker"])
    dramatiq.children()[0].kill()
    wait_until(lambda: stack.processes["worker"].poll() is not None, timeout=60, what="dramatiq to stop")
    for name in ("web", "projector"):
        stack.stop_process(name)
    time.sleep(0.5)
    seen = {}
    for name in ("web", "worker", "projector"):
        seen[name] = assert_json_lines((stack.logs / f"{name}.log").read_text(errors="replace"), name)
    messages = {name: " | ".join(r["message"] for r in records) for name, records in seen.items()}
    assert "Booting worker" in messages["web"] and "SIGKILL" in messages["web"], messages["web"]
    assert "Shutting down" in messages["web"], messages["web"]
    assert "is booting up" in messages["worker"], messages["worker"]
    assert "exited unexpectedly" in messages["worker"], messages["worker"]
    assert "Stopping worker process" in messages["projector"], messages["projector"]


def boot_failure(name: str, **env: str) -> str:
    """What a Procfile process writes when it cannot boot (it must exit)."""
    settings = Settings(
        mongodb_uri="mongodb://127.0.0.1:9/boot", mongodb_database="boot", redis_url="redis://127.0.0.1:9"
    )
    environ = {**procfile_env(settings, free_port()), **env}
    answer = subprocess.run(
        ["sh", "-c", PROCFILE[name]], cwd=ROOT, env=environ, capture_output=True, timeout=60
    )
    assert answer.returncode != 0
    return answer.stdout.decode() + answer.stderr.decode()


def test_a_web_that_cannot_boot_says_why_in_json():
    records = assert_json_lines(boot_failure("web", CURSOR_SECRET=""), "web")
    assert any("CURSOR_SECRET" in r["message"] for r in records), records


def test_a_worker_that_cannot_boot_says_why_in_json():
    records = assert_json_lines(boot_failure("worker", COMMAND_STATUS_TTL="soon"), "worker")
    assert any("COMMAND_STATUS_TTL" in r["message"] + r.get("exc_info", "") for r in records), records
    assert any("exited unexpectedly" in r["message"] for r in records), records
