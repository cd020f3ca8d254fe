"""What reaches stderr without logging becomes JSON lines too."""

import io
import json
import logging
import re
import sys
import traceback

import pytest

from infra import logs


def capture() -> tuple[logs.RawLines, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    log = logging.getLogger("test.stderr")
    log.handlers[:] = [logs.json_handler(out)]
    log.propagate = False
    log.setLevel(logging.INFO)
    return logs.RawLines(err, log), out, err


def records(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_printed_traceback_is_one_record_with_its_text_in_exc_info():
    stream, out, _ = capture()
    try:
        raise ValueError("boom")
    except ValueError:
        traceback.print_exc(file=stream)  # written a line at a time
    print("Process Process-1:", file=stream)
    (found, plain) = records(out)
    assert found["message"] == "ValueError: boom"
    assert found["level"] == "ERROR"
    assert found["exc_info"].startswith("Traceback (most recent call last):")
    assert found["exc_info"].endswith("ValueError: boom")
    assert plain["message"] == "Process Process-1:"
    assert plain["level"] == "WARNING"


def test_json_lines_pass_through_and_partial_lines_wait_for_their_end():
    stream, out, err = capture()
    stream.write('{"already": ')
    stream.write('"json"}\nhalf ')
    assert err.getvalue() == '{"already": "json"}\n'
    assert out.getvalue() == ""
    stream.write("a line\n\n")
    assert [r["message"] for r in records(out)] == ["half a line"]


def test_times_are_rfc3339_with_their_offset():
    _, out, _ = capture()
    logging.getLogger("test.stderr").info("hello")
    (found,) = records(out)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", found["time"])


def test_a_failing_handler_does_not_send_logging_round_and_round():
    stream, _, err = capture()

    class Broken(io.StringIO):
        def write(self, text):
            raise OSError("closed")

    log = logging.getLogger("test.stderr")
    log.handlers[:] = [logs.json_handler(Broken())]
    saved, logs.sys.stderr = logs.sys.stderr, stream
    try:
        stream.write("a line nobody can log\n")
    finally:
        logs.sys.stderr = saved
    assert "--- Logging error ---" in err.getvalue()


@pytest.fixture
def root_logging():
    """The root logger as the test found it, afterwards."""
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    yield root
    root.handlers[:], sys.excepthook = handlers, hook
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.parametrize(
    "given, level", [(None, logging.INFO), ("debug", logging.DEBUG), ("WARNING", logging.WARNING)]
)
def test_log_level_sets_the_lowest_level_every_process_logs(monkeypatch, root_logging, given, level):
    if given is None:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("LOG_LEVEL", given)
    logs.configure("worker")
    assert root_logging.level == level


def test_an_unknown_log_level_logs_at_info_and_says_so(monkeypatch, root_logging, capsys):
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    logs.configure("worker")
    assert root_logging.level == logging.INFO
    assert "LOG_LEVEL=LOUD is not one of DEBUG, INFO, WARNING, ERROR" in capsys.readouterr().out
