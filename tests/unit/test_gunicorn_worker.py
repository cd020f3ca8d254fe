"""What the web worker answers for requests gunicorn refuses itself."""

import json

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import (
    InvalidHeaderName,
    InvalidResponseHeader,
    LimitRequestHeaders,
    LimitRequestLine,
)

from web.gunicorn_worker import refusal


def parse(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    return status, dict(f.split(": ", 1) for f in fields), body


@pytest.mark.parametrize(
    "exc, status, detail",
    [
        (LimitRequestLine(9000, 8190), "414 URI Too Long", "the request line is over 8190 bytes"),
        (
            LimitRequestHeaders("limit request headers fields size"),
            "431 Request Header Fields Too Large",
            "send at most 100 header fields, each at most 8190 bytes",
        ),
    ],
)
def test_a_request_over_a_limit_gets_a_problem(exc, status, detail):
    cfg = Config()
    cfg.set("limit_request_line", 8190)  # as the Procfile sets it
    line, headers, body = parse(refusal(exc, cfg))
    assert line == f"HTTP/1.1 {status}"
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Content-Length"] == str(len(body))
    assert headers["Connection"] == "close"
    problem = json.loads(body)
    assert (problem["status"], problem["title"], problem["detail"]) == (int(status[:3]), status[4:], detail)


def test_the_detail_names_the_limits_gunicorn_was_given():
    cfg = Config()
    cfg.set("limit_request_line", 4096)
    _, _, body = parse(refusal(LimitRequestLine(5000, 4096), cfg))
    assert json.loads(body)["detail"] == "the request line is over 4096 bytes"


@pytest.mark.parametrize("exc", [InvalidHeaderName("Bad Name"), InvalidResponseHeader("x"), ValueError()])
def test_other_errors_are_left_to_gunicorn(exc):
    assert refusal(exc, Config()) is None


def test_the_worker_class_loads_no_metrics_before_gunicorn_conf_prepares_them():
    # gunicorn's arbiter imports the worker class before web.gunicorn_conf
    # sets the multiprocess directory: prometheus_client loaded then keeps
    # every counter in memory, and /metrics never sees one move.
    import subprocess
    import sys

    code = "import sys, web.gunicorn_worker; print('prometheus_client' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
